package domain

import (
	"slices"
	"sort"
	"time"
)

// DayStatus says whether a day can be booked.
type DayStatus string

const (
	DayOpen   DayStatus = "OPEN"   // at least one free slot
	DayFull   DayStatus = "FULL"   // working hours, but every slot is taken
	DayClosed DayStatus = "CLOSED" // nobody works (or the day is outside notice and horizon)
)

// Slot is a free start time.
type Slot struct {
	Start     time.Time // in the business's zone
	End       time.Time
	StaffID   int64 // who would take it (for "anyone", the least busy free staff member)
	SeatsLeft int   // for classes; 1 for appointments
}

// Day is the availability of one date.
type Day struct {
	Date   Date
	Status DayStatus
	Slots  []Slot
}

// Span is a half-open interval of time [Start, End).
type Span struct{ Start, End time.Time }

func (s Span) overlaps(o Span) bool { return s.Start.Before(o.End) && o.Start.Before(s.End) }

// Busy is time taken by an existing booking (its block: start and end widened by buffers).
type Busy struct {
	Block     Span
	Start     time.Time // the booking's start, to recognise a class session
	ServiceID int64
	StaffID   int64
	Seats     int
}

// StaffCalendar is everything about one staff member that availability needs, for the window.
type StaffCalendar struct {
	Staff     Staff
	Overrides map[Date][]Interval
	TimeOff   []Span
	Busy      []Busy
}

// AvailabilityInput is the whole input of ComputeAvailability: it reads nothing else.
type AvailabilityInput struct {
	Service   Service
	Step      time.Duration
	Earliest  time.Time // no slot starts before (now + notice)
	Latest    time.Time // no slot starts after (now + horizon)
	Location  *time.Location
	From, To  Date // inclusive
	Seats     int  // seats wanted (1 for appointments)
	Staff     []StaffCalendar
	Resources map[int64][]Busy // busy time of each resource the service needs
}

// ComputeAvailability returns the free slots of in.Service for each date from in.From to in.To.
//
// Slots start at each working interval's start and step by in.Step in real time while the
// service (without buffers) fits in the interval. Working hours are wall-clock times converted on
// each date in the business's zone, so 09:00 is 09:00 on a DST change day; stepping in real time
// means a spring-forward gap produces no slot and a fall-back repeated hour produces each instant
// once. A slot is free when its block (start and end widened by the service's buffers) overlaps
// no time off, no other booking's block and no booking of a required resource. For a class
// (capacity > 1), bookings of the same service at the same start share the slot until its seats
// are gone.
func ComputeAvailability(in AvailabilityInput) []Day {
	seats := max(in.Seats, 1)
	step := in.Step
	if step <= 0 {
		step = 15 * time.Minute
	}
	cals := make([]preparedCalendar, len(in.Staff))
	for i, sc := range in.Staff {
		cals[i] = prepare(sc, in.Service)
	}
	resources := make([]preparedBusy, 0, len(in.Service.ResourceIDs))
	for _, id := range in.Service.ResourceIDs {
		resources = append(resources, prepareBusy(in.Resources[id], nil, in.Service, 0))
	}

	var days []Day
	for d := in.From; !in.To.Before(d); d = d.AddDays(1) {
		day := Day{Date: d, Status: DayClosed}
		byStart := map[int64]int{} // unix start -> index in day.Slots
		load := map[int64]int{}    // staff id -> slots of theirs taken this day (for "anyone")
		for ci := range cals {
			c := &cals[ci]
			intervals, ok := c.overrides[d]
			if !ok {
				intervals = c.staff.Hours[d.Weekday()]
			}
			for _, iv := range intervals {
				ivStart, ivEnd := d.At(iv.Start, in.Location), d.At(iv.End, in.Location)
				for t := ivStart; !t.Add(in.Service.Duration).After(ivEnd); t = t.Add(step) {
					if t.Before(in.Earliest) {
						continue
					}
					if t.After(in.Latest) {
						break
					}
					if day.Status == DayClosed {
						day.Status = DayFull
					}
					left, free := c.free(t, in.Service, resources, seats)
					if !free {
						load[c.staff.ID]++
						continue
					}
					slot := Slot{Start: t, End: t.Add(in.Service.Duration), StaffID: c.staff.ID, SeatsLeft: left}
					if i, dup := byStart[t.Unix()]; dup {
						// "Anyone": keep the staff member with the lighter day.
						if load[c.staff.ID] < load[day.Slots[i].StaffID] {
							day.Slots[i] = slot
						}
						continue
					}
					byStart[t.Unix()] = len(day.Slots)
					day.Slots = append(day.Slots, slot)
				}
			}
		}
		if len(day.Slots) > 0 {
			day.Status = DayOpen
			sort.Slice(day.Slots, func(i, j int) bool { return day.Slots[i].Start.Before(day.Slots[j].Start) })
		}
		days = append(days, day)
	}
	return days
}

// preparedBusy is busy time made fast to query: blocks merged into sorted disjoint spans, and
// class sessions of the service being booked kept apart, since they can be shared.
type preparedBusy struct {
	blocks   []Span
	sessions []Busy
	next     int // index of the first block that may still matter (queries come in time order)
}

func prepareBusy(busy []Busy, timeOff []Span, svc Service, staffID int64) preparedBusy {
	var p preparedBusy
	blocks := slices.Clone(timeOff)
	for _, b := range busy {
		if svc.Capacity > 1 && b.ServiceID == svc.ID && (staffID == 0 || b.StaffID == staffID) {
			p.sessions = append(p.sessions, b)
			continue
		}
		blocks = append(blocks, b.Block)
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].Start.Before(blocks[j].Start) })
	for _, b := range blocks {
		if n := len(p.blocks); n > 0 && !b.Start.After(p.blocks[n-1].End) {
			if b.End.After(p.blocks[n-1].End) {
				p.blocks[n-1].End = b.End
			}
			continue
		}
		p.blocks = append(p.blocks, b)
	}
	return p
}

// clear reports whether block overlaps no merged span, and how many seats the sessions starting
// at start (on staffID, when given) take; a session at another time that overlaps is a clash.
func (p *preparedBusy) clear(block Span, start time.Time, staffID int64) (seatsTaken int, ok bool) {
	for p.next < len(p.blocks) && !p.blocks[p.next].End.After(block.Start) {
		p.next++
	}
	if p.next < len(p.blocks) && p.blocks[p.next].Start.Before(block.End) {
		return 0, false
	}
	for _, s := range p.sessions {
		if s.Start.Equal(start) && (staffID == 0 || s.StaffID == staffID) {
			seatsTaken += s.Seats
		} else if s.Block.overlaps(block) {
			return 0, false
		}
	}
	return seatsTaken, true
}

type preparedCalendar struct {
	staff     Staff
	overrides map[Date][]Interval
	busy      preparedBusy
}

func prepare(sc StaffCalendar, svc Service) preparedCalendar {
	return preparedCalendar{staff: sc.Staff, overrides: sc.Overrides, busy: prepareBusy(sc.Busy, sc.TimeOff, svc, sc.Staff.ID)}
}

// free reports whether svc can start at t with this staff member, and the seats left.
func (c *preparedCalendar) free(t time.Time, svc Service, resources []preparedBusy, seats int) (int, bool) {
	block := Span{t.Add(-svc.BufferBefore), t.Add(svc.Duration + svc.BufferAfter)}
	taken, ok := c.busy.clear(block, t, c.staff.ID)
	if !ok {
		return 0, false
	}
	for i := range resources {
		// A class session shares its resources only with bookings of the same session.
		r := resources[i]
		r.next = 0
		rt, ok := r.clear(block, t, c.staff.ID)
		if !ok {
			return 0, false
		}
		taken = max(taken, rt)
	}
	left := max(svc.Capacity, 1) - taken
	return left, left >= seats
}
