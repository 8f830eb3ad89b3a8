package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// The weekly hours editor without JavaScript: "Add a range" and "Remove" show the form again
// with a row more or less and save nothing; Save checks every day and says what is wrong in
// plain words next to it; 00:00 as an end is midnight.
func TestHoursEditor(t *testing.T) {
	srv, m := site(t)
	_, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	staffURL := fmt.Sprintf("%s/acme/admin/staff/%d", srv.URL, staff[0])
	stored := func() domain.WeeklyHours {
		var h domain.WeeklyHours
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			st, err := s.StaffMember(ctx, staff[0])
			if err != nil {
				t.Fatal(err)
			}
			h = st.Hours
		})
		return h
	}
	base := url.Values{"name": {"Ana"}, "active": {"on"}, "hours-mon-from": {"09:00", "14:00"}, "hours-mon-to": {"13:00", "18:00"},
		"hours-sat-from": {"10:00"}, "hours-sat-to": {"12:00"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}

	// Add: Saturday gets a second, empty row; nothing is saved.
	status, _, doc := post(t, c, staffURL, with(url.Values{"add": {"sat"}}))
	if status != http.StatusOK || doc.Find("#hours-sat-2-from").Length() != 1 || attr(t, doc, "#hours-sat-0-from", "value") != "10:00" ||
		doc.Find(`[data-testid="hours-unsaved"]`).Length() != 1 {
		t.Errorf("add a range: %d, Saturday rows: %d", status, doc.Find(`[data-testid="hours-sat"] input[type="time"]`).Length()/2)
	}
	if h := stored(); len(h[time.Saturday]) != 1 || h[time.Saturday][0].Start != 9*60 {
		t.Errorf("adding a row saved: %v", h[time.Saturday])
	}
	more := attr(t, doc, `input[name="more-sat"]`, "value")
	if more != "1" {
		t.Errorf("more-sat = %q", more)
	}

	// Remove Monday's first range: the second moves up.
	status, _, doc = post(t, c, staffURL, with(url.Values{"remove": {"mon:0"}}))
	if status != http.StatusOK || attr(t, doc, "#hours-mon-0-from", "value") != "14:00" || attr(t, doc, "#hours-mon-1-from", "value") != "" {
		t.Errorf("remove a range: %d, Monday starts at %q", status, attr(t, doc, "#hours-mon-0-from", "value"))
	}

	// A range without an end, and one that ends before it starts: both days say so.
	status, _, doc = post(t, c, staffURL, with(url.Values{"hours-tue-from": {"09:00"}, "hours-tue-to": {""},
		"hours-wed-from": {"15:00"}, "hours-wed-to": {"14:00"}}))
	if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-hours-tue"]`), "give both a start and an end") ||
		!strings.Contains(text(doc, `[data-testid="error-hours-wed"]`), "15:00–14:00 ends before it starts") ||
		attr(t, doc, "#hours-tue-0-from", "aria-invalid") != "true" {
		t.Errorf("bad ranges: %d %q %q", status, text(doc, `[data-testid="error-hours-tue"]`), text(doc, `[data-testid="error-hours-wed"]`))
	}

	// Saved: Monday with its break, Friday until midnight, Sunday off.
	status, _, doc = post(t, c, staffURL, with(url.Values{"hours-fri-from": {"18:00"}, "hours-fri-to": {"00:00"}}))
	if status != http.StatusSeeOther || text(doc, `[data-testid="flash"]`) != "Saved." {
		t.Fatalf("save: %d %q", status, text(doc, `[data-testid="flash"]`))
	}
	h := stored()
	if len(h[time.Monday]) != 2 || h[time.Monday][1] != (domain.Interval{Start: 14 * 60, End: 18 * 60}) ||
		len(h[time.Friday]) != 1 || h[time.Friday][0] != (domain.Interval{Start: 18 * 60, End: 24 * 60}) || len(h[time.Sunday]) != 0 {
		t.Errorf("stored hours: %v", h)
	}
	if got := attr(t, doc, "#hours-fri-0-to", "value"); got != "00:00" {
		t.Errorf("midnight shown as %q", got)
	}

	// Different hours on a date: two rows of time inputs, none for closed.
	day := domain.DateOf(time.Now()).AddDays(10).String()
	status, _, doc = post(t, c, staffURL+"/overrides", url.Values{"date": {day}, "from": {"15:00", ""}, "to": {"14:00", ""}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-hours"]`), "Range 1: 15:00–14:00 ends before it starts") ||
		attr(t, doc, "#override-0-from", "value") != "15:00" {
		t.Errorf("override ending before it starts: %d %q", status, text(doc, `[data-testid="error-hours"]`))
	}
	status, _, doc = post(t, c, staffURL+"/overrides", url.Values{"date": {day}, "from": {"10:00", "16:00"}, "to": {"14:00", "18:00"}})
	if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="overrides"]`), day+": 10:00-14:00, 16:00-18:00") {
		t.Errorf("override: %d %q", status, text(doc, `[data-testid="overrides"]`))
	}
}
