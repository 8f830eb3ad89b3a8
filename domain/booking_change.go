package domain

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// CheckChangeOnline says whether b's customer may still change or cancel it online: nil, or
// ECONFLICT (cancelled or over), ETOOLATE (started, or past the business's cutoff).
func (s *Store) CheckChangeOnline(ctx context.Context, b Booking) error {
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	return checkCutoff(b, st, s.now(), s.loc)
}

// checkCutoff fails with ECONFLICT when b is no longer open, and with ETOOLATE when customers
// may no longer change it: it has started, or the cutoff before its start has passed.
func checkCutoff(b Booking, st Settings, now time.Time, loc *time.Location) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "this booking is already %s", b.Status.Label())
	}
	if !now.Before(b.Start) {
		return Errorf(ETOOLATE, "this booking has already started (%s) and can no longer be changed online",
			b.Start.In(loc).Format("Mon 2 Jan 15:04 MST"))
	}
	if st.CancelCutoff > 0 && now.After(b.Start.Add(-st.CancelCutoff)) {
		return Errorf(ETOOLATE, "this booking can no longer be changed online: changes are possible until %s before the start (%s). Please contact the business.",
			HumanDuration(st.CancelCutoff), b.Start.In(loc).Format("Mon 2 Jan 15:04 MST"))
	}
	return nil
}

// HumanDuration says d in its largest whole unit, as people do: 1 day, 3 hours, 90 minutes.
func HumanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		if n := int(d / (24 * time.Hour)); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "1 day"
	case d%time.Hour == 0:
		if n := int(d / time.Hour); n != 1 {
			return fmt.Sprintf("%d hours", n)
		}
		return "1 hour"
	}
	return fmt.Sprintf("%d minutes", int(d/time.Minute))
}

// CancelByToken cancels the booking of token, as its customer, before the cutoff.
// Errors: ENOTFOUND, ETOOLATE, ECONFLICT (already cancelled or over).
func (s *Store) CancelByToken(ctx context.Context, token ManageToken, reason string) (Booking, error) {
	return s.change(ctx, func(tx *sql.Tx) (int64, error) {
		return bookingIDByToken(ctx, tx, token)
	}, func(tx *sql.Tx, b *Booking, st Settings, now time.Time) error {
		if err := checkCutoff(*b, st, now, s.loc); err != nil {
			return err
		}
		return s.cancel(ctx, tx, b, reason, ActorCustomer, now)
	})
}

// RescheduleByToken moves the booking of token to start (with staffID, 0 = anyone), as its
// customer, before the cutoff; the booking keeps its id. Errors: ENOTFOUND, ETOOLATE,
// ECONFLICT, ESLOTUNAVAILABLE.
func (s *Store) RescheduleByToken(ctx context.Context, token ManageToken, start time.Time, staffID int64) (Booking, error) {
	return s.change(ctx, func(tx *sql.Tx) (int64, error) {
		return bookingIDByToken(ctx, tx, token)
	}, func(tx *sql.Tx, b *Booking, st Settings, now time.Time) error {
		if err := checkCutoff(*b, st, now, s.loc); err != nil {
			return err
		}
		return s.move(ctx, tx, b, start, staffID, false, ActorCustomer, now)
	})
}

// Confirm confirms a pending booking (staff). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Confirm(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusConfirmed, "confirmed", actor, func(st Status) bool { return st == StatusPending })
}

// Complete marks a booking as delivered (staff), once it has started. Errors: ENOTFOUND,
// ECONFLICT.
func (s *Store) Complete(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusCompleted, "marked completed", actor, Status.Open)
}

// NoShow marks that the customer did not come (staff), once the booking has started. Errors:
// ENOTFOUND, ECONFLICT.
func (s *Store) NoShow(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusNoShow, "marked no-show", actor, Status.Open)
}

// Reopen takes back an outcome marked by mistake (completed, no-show): the booking is again
// what it was before (confirmed, or pending confirmation), its time still its own (staff; the
// customer is not told: nothing changed for them). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Reopen(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		if !b.Status.HasOutcome() {
			return Errorf(ECONFLICT, "a %s booking cannot be reopened", b.Status.Label())
		}
		var data string
		err := tx.QueryRowContext(ctx, `SELECT data FROM booking_events WHERE booking_id = ? AND type = ?
			ORDER BY id DESC LIMIT 1`, b.ID, markedEvent(b.Status)).Scan(&data)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var before struct{ From Status }
		if data != "" { // no record (an import, say): confirmed
			if err := json.Unmarshal([]byte(data), &before); err != nil {
				return fmt.Errorf("read the status booking %d had before it was marked: %w", b.ID, err)
			}
		}
		to := StatusConfirmed
		if before.From == StatusPending {
			to = StatusPending
		}
		return markStatus(ctx, tx, b, to, EventReopened, actor, now)
	})
}

// Cancel cancels a booking (staff: no cutoff). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Cancel(ctx context.Context, id int64, reason string, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		return s.cancel(ctx, tx, b, reason, actor, now)
	})
}

// Move moves a booking to start with staffID (staff: no cutoff, no minimum notice, never an
// overlap). Errors: ENOTFOUND, ECONFLICT, ESLOTUNAVAILABLE.
func (s *Store) Move(ctx context.Context, id int64, start time.Time, staffID int64, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		return s.move(ctx, tx, b, start, staffID, true, actor, now)
	})
}

func byID(id int64) func(*sql.Tx) (int64, error) {
	return func(*sql.Tx) (int64, error) { return id, nil }
}

// change runs one change to a booking in a write transaction and returns the booking after it.
func (s *Store) change(ctx context.Context, find func(*sql.Tx) (int64, error), apply func(*sql.Tx, *Booking, Settings, time.Time) error) (Booking, error) {
	var b Booking
	err := s.inBookingTx(ctx, func(tx *sql.Tx, touch func(Booking)) error {
		id, err := find(tx)
		if err != nil {
			return err
		}
		if b, err = booking(ctx, tx, id); err != nil {
			return err
		}
		touch(b)
		st, err := s.settingsIn(ctx, tx)
		if err != nil {
			return err
		}
		if err := apply(tx, &b, st, s.now()); err != nil {
			return err
		}
		if b, err = booking(ctx, tx, id); err != nil {
			return err
		}
		touch(b)
		return nil
	})
	if err != nil {
		return Booking{}, wrap("change booking", err)
	}
	return b, nil
}

// setStatus moves booking id to status to when allowed allows its status, recording
// markedEvent(to); done says the change in the refusal ("a cancelled booking cannot be " + done).
func (s *Store) setStatus(ctx context.Context, id int64, to Status, done string, actor Actor, allowed func(Status) bool) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		if !allowed(b.Status) {
			return Errorf(ECONFLICT, "a %s booking cannot be %s", b.Status.Label(), done)
		}
		// An outcome marked ahead of time (a slip of the finger on the calendar) would end the
		// booking for good: its customer could no longer cancel or move it, its time stays held.
		if to.HasOutcome() && now.Before(b.Start) {
			return Errorf(ECONFLICT, "this booking starts %s: it can be marked %s once it has started",
				s.shortTime(*b), to.Label())
		}
		if err := markStatus(ctx, tx, b, to, markedEvent(to), actor, now); err != nil {
			return err
		}
		if to == StatusConfirmed {
			confirmed := *b
			confirmed.Status = to
			return s.notify(ctx, tx, KindBookingConfirmed, confirmed, "", now)
		}
		return nil
	})
}

// markStatus sets b's status to to in tx and records event, with the status it had.
func markStatus(ctx context.Context, tx *sql.Tx, b *Booking, to Status, event EventType, actor Actor, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = ?, updated_at = ? WHERE id = ?`, to, now.Unix(), b.ID); err != nil {
		return err
	}
	return addEvent(ctx, tx, b.ID, event, actor, map[string]any{"from": b.Status}, now)
}

func (s *Store) cancel(ctx context.Context, tx *sql.Tx, b *Booking, reason string, actor Actor, now time.Time) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "this booking is already %s", b.Status.Label())
	}
	if utf8.RuneCountInString(reason) > MaxCancelReasonLen {
		return Invalid("reason", "reason must be at most %d characters", MaxCancelReasonLen)
	}
	_, err := tx.ExecContext(ctx, `UPDATE bookings SET status = ?, cancel_reason = ?, cancelled_by = ?,
		updated_at = ? WHERE id = ?`, StatusCancelled, reason, actor, now.Unix(), b.ID)
	if err != nil {
		return err
	}
	if err := addEvent(ctx, tx, b.ID, EventCancelled, actor, map[string]any{"reason": reason}, now); err != nil {
		return err
	}
	if err := dropUnsent(ctx, tx, b.ID); err != nil {
		return err
	}
	b.Status, b.CancelReason, b.CancelledBy = StatusCancelled, reason, actor
	return s.notify(ctx, tx, KindBookingCancelled, *b, "", now)
}

func (s *Store) move(ctx context.Context, tx *sql.Tx, b *Booking, start time.Time, staffID int64, byStaff bool, actor Actor, now time.Time) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "a %s booking cannot be moved", b.Status.Label())
	}
	slot, svc, err := s.findSlot(ctx, tx, b.ServiceID, staffID, start, b.Seats, b.ID, byStaff)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE bookings SET staff_id = ?, start_at = ?, end_at = ?, block_start = ?,
		block_end = ?, updated_at = ? WHERE id = ?`, slot.StaffID, slot.Start.Unix(), slot.End.Unix(),
		slot.Start.Add(-svc.BufferBefore).Unix(), slot.End.Add(svc.BufferAfter).Unix(), now.Unix(), b.ID)
	if err != nil {
		return err
	}
	// The availability check used the service's resources as they are now: hold exactly those.
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_resources WHERE booking_id = ?`, b.ID); err != nil {
		return err
	}
	for _, rid := range svc.ResourceIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_resources (booking_id, resource_id) VALUES (?, ?)`, b.ID, rid); err != nil {
			return err
		}
	}
	if err := addEvent(ctx, tx, b.ID, EventRescheduled, actor, map[string]any{
		"from": b.Start.Format(time.RFC3339), "to": slot.Start.UTC().Format(time.RFC3339),
		"fromStaff": b.StaffID, "toStaff": slot.StaffID,
	}, now); err != nil {
		return err
	}
	if err := dropUnsent(ctx, tx, b.ID); err != nil {
		return err
	}
	moved := *b
	moved.Start, moved.End, moved.StaffID = slot.Start, slot.End, slot.StaffID
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET reminded_at = NULL WHERE id = ?`, b.ID); err != nil {
		return err // a moved booking deserves a reminder for its new time
	}
	if moved.StaffID != b.StaffID {
		// The staff member it leaves has the event in their calendar: it is cancelled there
		// (same UID), or they would keep a phantom appointment; the new one gets it as a request.
		if err := s.notifyStaffReleased(ctx, tx, *b, moved, now); err != nil {
			return err
		}
	}
	return s.notify(ctx, tx, KindBookingRescheduled, moved, "", now)
}
