package domain_test

import (
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
