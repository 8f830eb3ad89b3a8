package web

import (
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// The dashboard's form decoding: hours ranges, times and amounts. What parses is well formed
// and prints back as something that parses the same.
func FuzzFormDecoding(f *testing.F) {
	for _, s := range []string{"09:00-13:00, 14:00-18:00", "9:00-10:00", "10:00-25:00", "12:00-11:00", "00:00-24:00", "09:00–13:00; 14:00 to 15:00", "", ",,", "25", "25.5", "25,50", "0.001", "-1", "1e9", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A row of the hours editor, its two inputs split at the first dash.
		a, b, _ := strings.Cut(s, "-")
		f := newForm(nil)
		if iv, ok := readRange(f, "hours", "Range 1", hoursRange{From: a, To: b}); ok {
			if iv.Start < 0 || iv.End > 24*60 || iv.Start >= iv.End || !f.OK() {
				t.Fatalf("%q gave interval %+v", s, iv)
			}
			// Shown again as the inputs show it (midnight as 00:00), it reads the same.
			if again, ok := readRange(newForm(nil), "hours", "Range 1", hoursRange{From: formatClock(iv.Start), To: formatClock(iv.End % (24 * 60))}); !ok || again != iv {
				t.Fatalf("%q: %+v shown again reads as %+v", s, iv, again)
			}
		} else if strings.TrimSpace(f.Err("hours")) == "" {
			t.Fatalf("%q: refused without a message", s)
		}
		if m, ok := domain.ParseClock(s); ok && (m < 0 || m > 24*60) {
			t.Fatalf("%q parsed as %d minutes", s, m)
		}
		if v, ok := parseMoney(s); ok {
			if v < 0 {
				t.Fatalf("%q parsed as %d", s, v)
			}
			if back, ok := parseMoney(formatAmount(v)); !ok || back != v {
				t.Fatalf("%q: %d printed as %q parses as %d", s, v, formatAmount(v), back)
			}
		}
		if loc := visitorZone(s); loc != nil && strings.Contains(s, "..") {
			t.Fatalf("time zone %q accepted", s)
		}
	})
}

func TestSafeBack(t *testing.T) {
	for back, want := range map[string]string{
		"/acme/admin/calendar?date=2026-01-02": "/calendar?date=2026-01-02",
		"/acme/admin/bookings/3":               "/bookings/3",
		"/acme/admin":                          "/",
		"/acme/admin/../../other/admin/x":      "FALLBACK",
		"/acme/adminx/y":                       "FALLBACK",
		"//evil.example/acme/admin/x":          "FALLBACK",
		"https://evil.example/acme/admin":      "FALLBACK",
		"/acme/admin/x\\..\\..":                "FALLBACK",
		"":                                     "FALLBACK",
	} {
		if got := safeBack(back, "/acme/admin", "FALLBACK"); got != want {
			t.Errorf("safeBack(%q) = %q, want %q", back, got, want)
		}
	}
}
