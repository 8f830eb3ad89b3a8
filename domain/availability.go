package domain

import (
	"cmp"
	"math"
	"slices"
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
	// Later is set on a day that starts after the booking horizon: not open for booking yet,
	// which a customer should not read as closed.
	Later bool
}

// Span is a half-open interval of time [Start, End).
type Span struct{ Start, End time.Time }

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
// each date in the business's zone (Date.Span), so 09:00 is 09:00 on a DST change day; a wall
// time in a spring-forward gap is the transition and a repeated one its first pass, and stepping
// in real time means a spring-forward gap produces no slot and a fall-back repeated hour produces
// each instant once. A day's slots all lie within that date. A slot is free when its block
// (start and end widened by the service's buffers) overlaps no time off, no other booking's
// block and no booking of a required resource. For a class
// (capacity > 1), bookings of the same service at the same start share the slot until its seats
// are gone. With several staff ("anyone"), each start is offered once, with the free staff
// member who has the lightest day.
func ComputeAvailability(in AvailabilityInput) []Day {
	days, _ := computeAvailability(in)
	return days
}

// computeAvailability is ComputeAvailability that also returns, for each day, how many seconds
// the clock may move on (Earliest and Latest with it) before that day's answer could change:
// until the first start it offered or found taken falls under Earliest, or the first start
// beyond Latest comes within it (math.MaxInt64 when neither can happen).
func computeAvailability(in AvailabilityInput) ([]Day, []int64) {
	seats := max(in.Seats, 1)
	step := int64(in.Step / time.Second)
	if step <= 0 {
		step = 15 * 60
	}
	svc := in.Service
	dur := int64(svc.Duration / time.Second)
	before, after := int64(svc.BufferBefore/time.Second), int64(svc.BufferAfter/time.Second)
	earliest, latest := in.Earliest.Unix(), in.Latest.Unix()

	cals := make([]preparedCalendar, len(in.Staff))
	for i, sc := range in.Staff {
		cals[i] = preparedCalendar{staff: sc.Staff, overrides: sc.Overrides, busy: prepareBusy(sc.Busy, sc.TimeOff, svc, sc.Staff.ID)}
	}
	resources := make([]preparedBusy, 0, len(svc.ResourceIDs))
	for _, id := range svc.ResourceIDs {
		resources = append(resources, prepareBusy(in.Resources[id], nil, svc, 0))
	}

	var days []Day
	var lives []int64
	var found []candidate
	load := make([]int, len(cals)) // slots of each staff member taken that day (for "anyone")
	for d := in.From; !in.To.Before(d); d = d.AddDays(1) {
		day := Day{Date: d, Status: DayClosed}
		bounds := span{d.At(0, in.Location).Unix(), d.AddDays(1).At(0, in.Location).Unix()}
		day.Later = bounds.s > latest
		found = found[:0]
		clear(load)
		life := int64(math.MaxInt64)
		for ci := range cals {
			c := &cals[ci]
			intervals, ok := c.overrides[d]
			if !ok {
				intervals = c.staff.Hours[d.Weekday()]
			}
			for _, iv := range instants(d, bounds, intervals, in.Location) {
				for t := iv.s; t+dur <= iv.e; t += step {
					if t < earliest {
						continue
					}
					if t > latest {
						life = min(life, t-latest-1)
						break
					}
					life = min(life, t-earliest)
					day.Status = DayFull
					block := span{t - before, t + dur + after}
					taken, ok := c.busy.clear(block, t, c.staff.ID)
					for i := 0; ok && i < len(resources); i++ {
						var rt int
						rt, ok = resources[i].clearFrom(0, block, t, c.staff.ID)
						taken = max(taken, rt)
					}
					left := max(svc.Capacity, 1) - taken
					if !ok || left < seats {
						load[ci]++
						continue
					}
					found = append(found, candidate{start: t, cal: ci, left: left})
				}
			}
		}
		if len(found) > 0 {
			day.Status = DayOpen
			slices.SortStableFunc(found, func(a, b candidate) int { return cmp.Compare(a.start, b.start) })
			day.Slots = make([]Slot, 0, len(found))
			for i, f := range found {
				if i > 0 && f.start == found[i-1].start {
					continue // handled with the first candidate of this start
				}
				best := f
				for _, g := range found[i+1:] {
					if g.start != f.start {
						break
					}
					if load[g.cal] < load[best.cal] {
						best = g
					}
				}
				st := time.Unix(best.start, 0).In(in.Location)
				day.Slots = append(day.Slots, Slot{Start: st, End: st.Add(svc.Duration), StaffID: cals[best.cal].staff.ID, SeatsLeft: best.left})
			}
		}
		days = append(days, day)
		lives = append(lives, life)
	}
	return days, lives
}

// instants converts a day's wall-clock intervals to sorted, merged instants, so that candidate
// starts come in time order even when DST makes intervals touch or overlap in real time. Each
// span is kept within day, the instants of d (from its first instant to the next day's first),
// so a day's answer never holds a slot of another day.
func instants(d Date, day span, ivs []Interval, loc *time.Location) []span {
	out := make([]span, 0, len(ivs))
	for _, iv := range ivs {
		sp := d.Span(iv, loc)
		s, e := max(sp.Start.Unix(), day.s), min(sp.End.Unix(), day.e)
		if e > s {
			out = append(out, span{s, e})
		}
	}
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a.s, b.s) })
	merged := out[:0]
	for _, sp := range out {
		if n := len(merged); n > 0 && sp.s <= merged[n-1].e {
			merged[n-1].e = max(merged[n-1].e, sp.e)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

type candidate struct {
	start int64 // unix seconds
	cal   int   // index of the staff member's calendar
	left  int   // seats left
}

// span is [s, e) in unix seconds.
type span struct{ s, e int64 }

type session struct {
	start, s, e int64
	staffID     int64
	seats       int
}

// preparedBusy is busy time made fast to query: blocks merged into sorted disjoint spans, and
// class sessions of the service being booked kept apart, since they can be shared.
type preparedBusy struct {
	blocks   []span
	sessions []session
	next     int // index of the first block that may still matter (queries come in time order)
}

func prepareBusy(busy []Busy, timeOff []Span, svc Service, staffID int64) preparedBusy {
	var p preparedBusy
	blocks := make([]span, 0, len(busy)+len(timeOff))
	for _, t := range timeOff {
		blocks = append(blocks, span{t.Start.Unix(), t.End.Unix()})
	}
	for _, b := range busy {
		if svc.Capacity > 1 && b.ServiceID == svc.ID && (staffID == 0 || b.StaffID == staffID) {
			p.sessions = append(p.sessions, session{b.Start.Unix(), b.Block.Start.Unix(), b.Block.End.Unix(), b.StaffID, b.Seats})
			continue
		}
		blocks = append(blocks, span{b.Block.Start.Unix(), b.Block.End.Unix()})
	}
	slices.SortFunc(blocks, func(a, b span) int { return cmp.Compare(a.s, b.s) })
	for _, b := range blocks {
		if n := len(p.blocks); n > 0 && b.s <= p.blocks[n-1].e {
			p.blocks[n-1].e = max(p.blocks[n-1].e, b.e)
			continue
		}
		p.blocks = append(p.blocks, b)
	}
	return p
}

// clear reports whether block overlaps no merged span, and how many seats the sessions starting
// at start (on staffID, when given) take; a session at another time that overlaps is a clash.
// Successive calls must come in time order.
func (p *preparedBusy) clear(block span, start, staffID int64) (seatsTaken int, ok bool) {
	for p.next < len(p.blocks) && p.blocks[p.next].e <= block.s {
		p.next++
	}
	return p.clearFrom(p.next, block, start, staffID)
}

// clearFrom is clear without the time-order assumption, scanning from block index i.
func (p *preparedBusy) clearFrom(i int, block span, start, staffID int64) (seatsTaken int, ok bool) {
	for ; i < len(p.blocks) && p.blocks[i].s < block.e; i++ {
		if p.blocks[i].e > block.s {
			return 0, false
		}
	}
	for _, s := range p.sessions {
		if s.start == start && (staffID == 0 || s.staffID == staffID) {
			seatsTaken += s.seats
		} else if s.s < block.e && block.s < s.e {
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
