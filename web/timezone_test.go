package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// An owner moves the business to another time zone: bookings keep their instants (their clock
// time reads in the new zone), working hours keep their clock times in the new zone, the
// registry and every page agree, and the settings page says exactly that.
func TestChangeTimezone(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	b, token := bookAhead(t, m, "acme", svc, staff[0], "eva@example.com") // 09:00 in Madrid
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	settings := srv.URL + "/acme/admin/settings"

	_, doc, _ := page(t, c, "GET", settings, "")
	if got := doc.Find(`select[name="timezone"] option[selected]`).AttrOr("value", ""); got != "Europe/Madrid" ||
		doc.Find(`select[name="timezone"] option`).Length() < 400 {
		t.Fatalf("zone picker: %q selected of %d", got, doc.Find(`select[name="timezone"] option`).Length())
	}

	status, _, doc := post(t, c, settings+"/timezone", url.Values{"timezone": {"Mars/Olympus_Mons"}})
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-timezone"]`) == "" {
		t.Errorf("unknown zone: %d %q", status, text(doc, `[data-testid="error-timezone"]`))
	}

	status, loc, doc := post(t, c, settings+"/timezone", url.Values{"timezone": {"America/New_York"}})
	flash := text(doc, `[data-testid="flash"]`)
	madrid, ny := b.Start.In(mustZone(t, "Europe/Madrid")), b.Start.In(mustZone(t, "America/New_York"))
	for _, want := range []string{"from Europe/Madrid to America/New_York", "keep their moment",
		madrid.Format("Mon 2 Jan 15:04") + " Europe/Madrid time, is " + ny.Format("Mon 2 Jan 15:04") + " America/New_York time",
		"Working hours and date overrides keep their clock times"} {
		if status != http.StatusSeeOther || loc != "/acme/admin/settings" || !strings.Contains(flash, want) {
			t.Errorf("after the change (%d %s): %q lacks %q", status, loc, flash, want)
		}
	}
	if got := doc.Find(`select[name="timezone"] option[selected]`).AttrOr("value", ""); got != "America/New_York" {
		t.Errorf("picker after the change: %q", got)
	}
	// The registry holds the new zone, and the booking its instant.
	if tn, err := m.Registry().BySlug(context.Background(), "acme"); err != nil || tn.Timezone != "America/New_York" {
		t.Errorf("registry: %+v %v", tn, err)
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		if s.Location().String() != "America/New_York" {
			t.Errorf("a new lease's zone: %s", s.Location())
		}
		if got, err := s.Booking(ctx, b.ID); err != nil || !got.Start.Equal(b.Start) {
			t.Errorf("booking moved from %v to %v (%v)", b.Start, got.Start, err)
		}
	})
	_, doc, _ = page(t, browser(t), "GET", srv.URL+"/acme/booking/"+string(token), "")
	if got := text(doc, `[data-testid="booking-when"]`); !strings.Contains(got, ny.Format("15:04")+"–") || !strings.Contains(got, "America/New_York") {
		t.Errorf("the customer's page after the change: %q", got)
	}
	// Working hours are 09:00–12:00 in New York now.
	day := ny.AddDate(0, 0, 1).Format("2006-01-02")
	_, doc, _ = page(t, browser(t), "GET", srv.URL+"/acme/book/"+strconv.FormatInt(svc, 10)+"/slots?date="+day, "")
	if first := strings.TrimSpace(doc.Find(`[data-testid="slot"]`).First().Text()); first != "09:00" {
		t.Errorf("first free time in the new zone: %q", first)
	}
}

// The sign-up form offers the list of zones, and asks app.js to pick the browser's.
func TestSignupZonePicker(t *testing.T) {
	srv, _ := site(t)
	_, doc, _ := page(t, browser(t), "GET", srv.URL+"/signup", "")
	sel := doc.Find(`select[name="timezone"][data-browser-zone]`)
	if sel.Length() != 1 || sel.Find(`option[value="America/New_York"]`).Length() != 1 ||
		sel.Find(`option[selected]`).AttrOr("value", "") == "" {
		t.Errorf("sign-up zone picker: %d", sel.Length())
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
