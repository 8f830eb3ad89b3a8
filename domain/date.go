package domain

import (
	"fmt"
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

// At returns the instant of wall-clock minute min (0..1440) of d in loc. A wall time that does
// not exist (in a spring-forward gap) resolves to the instant the gap ends, so an interval that
// starts or ends in the gap keeps only its real part.
func (d Date) At(min int, loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, min, 0, 0, loc)
	if want := time.Date(d.Year, d.Month, d.Day, 0, min, 0, 0, time.UTC); !sameWall(t, want) {
		start, _ := t.ZoneBounds() // time.Date went past the gap: its zone period began at the gap
		return start
	}
	return t
}

func sameWall(t, want time.Time) bool {
	y, m, dd := t.Date()
	wy, wm, wd := want.Date()
	return y == wy && m == wm && dd == wd && t.Hour() == want.Hour() && t.Minute() == want.Minute()
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
