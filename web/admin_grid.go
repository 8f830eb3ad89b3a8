package web

import (
	"fmt"
	"slices"
	"time"

	"github.com/reserva/reserva/domain"
)

// The time grid of the dashboard's calendar: pure placement math, so it is tested without a
// server. A column (a staff member on a day) is a CSS grid of rows of gridStep minutes; every
// block in it (working hours, breaks, time off, bookings) is placed by grid-row, so the page
// lays itself out without JavaScript.

// gridStep is the minutes of one row: bookings start on any 5-minute step.
const gridStep = 5

// gridWindow is the wall-clock span a grid shows, in minutes after midnight, whole hours.
type gridWindow struct{ From, To int }

// defaultGridWindow is what a grid shows when nobody works and nothing is booked that day.
var defaultGridWindow = gridWindow{From: 8 * 60, To: 18 * 60}

// Rows is the number of rows of the grid's body.
func (w gridWindow) Rows() int { return (w.To - w.From) / gridStep }

// Hours are the whole hours the grid shows, as minutes after midnight, for its labels.
func (w gridWindow) Hours() []int {
	var out []int
	for m := w.From; m < w.To; m += 60 {
		out = append(out, m)
	}
	return out
}

// gridRange is the window that holds every span given (working intervals and bookings, in
// wall-clock minutes), widened to whole hours; defaultGridWindow when there are none.
func gridRange(spans []domain.Interval) gridWindow {
	if len(spans) == 0 {
		return defaultGridWindow
	}
	w := gridWindow{From: 24 * 60, To: 0}
	for _, s := range spans {
		w.From, w.To = min(w.From, s.Start), max(w.To, s.End)
	}
	w.From = w.From / 60 * 60
	w.To = min((w.To+59)/60*60, 24*60)
	if w.To <= w.From {
		w.To = min(w.From+60, 24*60)
	}
	return w
}

// wallSpan is the part of the instants [start, end) that falls on day d in loc, as wall-clock
// minutes after midnight (end 1440 when it runs past midnight); ok is false when none of it
// falls on d. Minutes are the wall clock, as the hours on the side show it; on a fall-back
// day the wall clock can end before it starts, and then the span keeps its real length.
func wallSpan(d domain.Date, start, end time.Time, loc *time.Location) (iv domain.Interval, ok bool) {
	s, e := start.In(loc), end.In(loc)
	sd, ed := domain.DateOf(s), domain.DateOf(e)
	if d.Before(sd) || !d.Before(ed) && ed != d || !e.After(start) {
		return domain.Interval{}, false
	}
	iv = domain.Interval{Start: 0, End: 24 * 60}
	if sd == d {
		iv.Start = s.Hour()*60 + s.Minute()
	}
	if ed == d {
		iv.End = e.Hour()*60 + e.Minute()
		if e.Second() > 0 || e.Nanosecond() > 0 {
			iv.End++
		}
		if iv.End == 0 { // ends at the day's first instant
			return domain.Interval{}, false
		}
	}
	if iv.End <= iv.Start {
		iv.End = min(iv.Start+int((end.Sub(start)+time.Minute-1)/time.Minute), 24*60)
	}
	return iv, iv.End > iv.Start
}

// gridPlace is where wall-clock minutes iv sit in w: the first row (1-based) and how many rows
// they take, clipped to the window; ok is false when iv lies outside it. A span shorter than a
// row still takes one.
func (w gridWindow) gridPlace(iv domain.Interval) (row, span int, ok bool) {
	a, b := max(iv.Start, w.From), min(iv.End, w.To)
	if a >= b {
		return 0, 0, false
	}
	first := (a-w.From)/gridStep + 1
	last := (b - w.From + gridStep - 1) / gridStep
	return first, max(last-first+1, 1), true
}

// gridStyle is the CSS that places a block at rows of w, in lane (1-based) of a column with
// lanes side by side; lane 0 spans the column's whole width.
func gridStyle(row, span, lane int) string {
	if lane == 0 {
		return fmt.Sprintf("grid-row: %d / span %d; grid-column: 1 / -1", row, span)
	}
	return fmt.Sprintf("grid-row: %d / span %d; grid-column: %d", row, span, lane)
}

// gridLanes gives each span a lane (1-based) so that spans sharing a lane never overlap, and
// returns the number of lanes: overlapping bookings (a cancelled one and the booking that took
// its time, a class's several bookings) stand side by side instead of on top of each other.
// Spans are taken by start; each goes to the lowest lane free at its start.
func gridLanes(spans []domain.Interval) (lanes []int, n int) {
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return spans[a].Start - spans[b].Start })
	lanes = make([]int, len(spans))
	var ends []int // the end of the last span in each lane
	for _, i := range order {
		lane := slices.IndexFunc(ends, func(end int) bool { return end <= spans[i].Start })
		if lane < 0 {
			ends = append(ends, 0)
			lane = len(ends) - 1
		}
		ends[lane] = spans[i].End
		lanes[i] = lane + 1
	}
	return lanes, max(len(ends), 1)
}

// gaps are the breaks between working intervals (sorted, not overlapping): from each one's end
// to the next one's start.
func gaps(ivs []domain.Interval) []domain.Interval {
	var out []domain.Interval
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Start > ivs[i-1].End {
			out = append(out, domain.Interval{Start: ivs[i-1].End, End: ivs[i].Start})
		}
	}
	return out
}

// unionIntervals merges intervals into sorted, non-overlapping ones: the hours when anyone works.
func unionIntervals(ivs []domain.Interval) []domain.Interval {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b domain.Interval) int { return a.Start - b.Start })
	var out []domain.Interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, iv.End)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// minuteAt is the wall-clock minute after midnight of a grid row's start (1-based), for the
// links of empty time.
func (w gridWindow) minuteAt(row int) int { return w.From + (row-1)*gridStep }
