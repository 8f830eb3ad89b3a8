package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A date that parses prints back as the same text, is a real calendar day, and turns into an
// instant in any zone without panicking.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-03-29", "2026-02-29", "2024-02-29", "9999-12-31", "0000-01-01", "2026-13-01", "2026-1-1", " 2026-03-29", "2026-03-29T00:00:00Z", "+2026-03-29"} {
		f.Add(s)
	}
	madrid, _ := time.LoadLocation("Europe/Madrid")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := domain.ParseDate(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("%q parsed as %s", s, d)
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			t.Fatalf("%q accepted but is not a date: %v", s, err)
		}
		at := d.At(9*60, madrid)
		if got := domain.DateOf(at.In(madrid)); got != d {
			t.Fatalf("%s 09:00 in Madrid is on %s", d, got)
		}
		if d.AddDays(1).DaysUntil(d) != -1 {
			t.Fatalf("%s: a day after is not one day after", d)
		}
	})
}

// The wall clock of any date and minute, in zones either side of UTC with every kind of change,
// becomes an instant that shows that wall clock, at its first pass, or, when the clock skips it,
// the transition that skips it; and later minutes never come earlier.
func FuzzDateAt(f *testing.F) {
	zones := []string{"America/New_York", "America/Havana", "America/Santiago", "Europe/London",
		"Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Apia", "Asia/Kathmandu", "Europe/Madrid"}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		var err error
		if locs[i], err = time.LoadLocation(z); err != nil {
			f.Fatal(err)
		}
	}
	epoch := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	days := func(s string) uint16 { return uint16(utc(s+" 00:00").Sub(epoch) / (24 * time.Hour)) }
	for _, c := range dstEdges {
		for _, hhmm := range []string{c.from, c.to} {
			f.Add(uint8(slices.Index(zones, c.zone)), days(c.day), uint16(iv(hhmm, hhmm).Start))
		}
	}
	f.Add(uint8(6), days("2011-12-30"), uint16(0)) // Apia skipped the whole of 30 December 2011
	f.Fuzz(func(t *testing.T, zone uint8, day, minute uint16) {
		loc := locs[int(zone)%len(locs)]
		d := domain.DateOf(epoch.AddDate(0, 0, int(day)%(200*366)))
		m := int(minute) % 1441
		at := d.At(m, loc)
		want := time.Date(d.Year, d.Month, d.Day, 0, m, 0, 0, time.UTC) // the wall clock asked for
		// t's wall clock, labelled UTC.
		wall := func(t time.Time) time.Time {
			l := t.In(loc)
			return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
		}
		if m < 1440 && d.At(m+1, loc).Before(at) {
			t.Fatalf("%s %s: minute %d at %s comes before minute %d at %s", loc, d, m+1, d.At(m+1, loc), m, at)
		}
		if wall(at).Equal(want) {
			// First pass: no earlier instant (an hour or less before, as any fall-back) shows it.
			for back := 15 * time.Minute; back <= 2*time.Hour; back += 15 * time.Minute {
				if wall(at.Add(-back)).Equal(want) {
					t.Fatalf("%s %s %02d:%02d is %s, but %s shows it first", loc, d, m/60, m%60, at, at.Add(-back))
				}
			}
			return
		}
		// Skipped: at is the transition, just before it the clock is earlier, from it later.
		if start, _ := at.ZoneBounds(); !start.Equal(at) || !wall(at.Add(-time.Second)).Before(want) || !want.Before(wall(at)) {
			t.Fatalf("%s %s %02d:%02d is %s (%s), neither that wall clock nor the transition skipping it", loc, d, m/60, m%60, at, at.In(loc))
		}
	})
}
