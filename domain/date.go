package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Date is a calendar day in the business's time zone, with no time or zone of its own.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not a date like 2026-03-29", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// AddDays returns the date n days later.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Weekday is the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool {
	if d.Year != o.Year {
		return d.Year < o.Year
	}
	if d.Month != o.Month {
		return d.Month < o.Month
	}
	return d.Day < o.Day
}

// At returns the instant of wall-clock minute minute (0..1440; 1440 is the next day's 00:00) of d
// in loc. It is the one conversion of the business's wall clock to instants:
//   - a wall time that happens twice (in a fall-back hour) is its first pass, so an interval that
//     starts in the repeated hour loses none of its instants, in every zone;
//   - a wall time that never happens (in a spring-forward gap) is the instant the gap ends (the
//     transition), so an interval that starts or ends in the gap keeps only its real part.
//
// time.Date is not used for this: for a wall time in a gap it may normalise with either offset,
// and for a repeated one it picks one pass or the other depending on the zone's side of UTC.
func (d Date) At(minute int, loc *time.Location) time.Time {
	// The wall clock read as if it were UTC; an instant u shows it when u + offset(u) == wall.
	wall := time.Date(d.Year, d.Month, d.Day, 0, minute, 0, 0, time.UTC).Unix()
	// Every offset that can apply: a day either side of the wall clock reaches past any zone's
	// offset (at most 14 hours), so both sides of a transition that day are among these.
	var offsets [3]int64
	for i, probe := range [3]int64{wall - 86400, wall, wall + 86400} {
		offsets[i] = offsetAt(probe, loc)
	}
	first, found := int64(0), false
	for _, off := range offsets {
		if u := wall - off; offsetAt(u, loc) == off && (!found || u < first) {
			first, found = u, true
		}
	}
	if found {
		return time.Unix(first, 0).In(loc)
	}
	// A gap: with the smallest offset (the one before the jump) the wall clock falls just after
	// the transition, in the period the transition began.
	start, _ := time.Unix(wall-slices.Min(offsets[:]), 0).In(loc).ZoneBounds()
	return start
}

// offsetAt is loc's UTC offset in seconds at unix time u.
func offsetAt(u int64, loc *time.Location) int64 {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return int64(off)
}

// Span returns the instants of the wall-clock interval iv on d in loc: from At(iv.Start) to
// At(iv.End), which is empty (End not after Start) when the interval lies wholly in a gap.
// Availability and the booking check both use it, through ComputeAvailability.
func (d Date) Span(iv Interval, loc *time.Location) Span {
	return Span{Start: d.At(iv.Start, loc), End: d.At(iv.End, loc)}
}

// DaysUntil is the number of days from d to o (negative when o is earlier).
func (d Date) DaysUntil(o Date) int {
	a := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
	b := time.Date(o.Year, o.Month, o.Day, 12, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Round(24*time.Hour) / (24 * time.Hour))
}

// ParseClock reads a wall-clock time "HH:MM" (or "24:00", the end of a day) as minutes after
// midnight.
func ParseClock(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, true
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// ParseInterval reads "HH:MM-HH:MM". Whether it starts before it ends is for validation.
func ParseInterval(s string) (Interval, bool) {
	a, b, ok := strings.Cut(s, "-")
	start, ok1 := ParseClock(a)
	end, ok2 := ParseClock(b)
	return Interval{Start: start, End: end}, ok && ok1 && ok2
}
