package domain

import (
	"strings"
)

// Open reports whether a booking with this status is still to happen: pending or confirmed.
func (st Status) Open() bool { return st == StatusPending || st == StatusConfirmed }

// openBooking is Status.Open in SQL: the condition on a bookings row that it is open.
const openBooking = `status IN ('pending', 'confirmed')`

// HoldsTime reports whether a booking with this status keeps its time from other bookings:
// every booking but a cancelled one (one that happened, or did not, still had its time).
func (st Status) HoldsTime() bool { return st != StatusCancelled }

// holdsTime is Status.HoldsTime in SQL, on a bookings row.
const holdsTime = `status <> 'cancelled'`

// HasOutcome reports whether staff marked how the booking went: completed or no-show.
func (st Status) HasOutcome() bool { return st == StatusCompleted || st == StatusNoShow }

// markedEvent is the event that records staff marking a booking st (Confirm, Complete, NoShow).
// Its data holds the status the booking had, which Reopen takes back.
func markedEvent(st Status) EventType {
	switch st {
	case StatusConfirmed:
		return EventConfirmed
	case StatusCompleted:
		return EventCompleted
	case StatusNoShow:
		return EventNoShow
	}
	panic("domain: no event marks status " + string(st))
}

// Label is the status as people read it: no-show, not no_show.
func (st Status) Label() string { return strings.ReplaceAll(string(st), "_", "-") }
