package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
)

// A new business's dashboard home lists its first steps (staff, hours, services, sharing the
// link), each done or not from its data, until all are done; empty pages say what to do first;
// a service can be added before anyone offers it.
func TestSetupChecklist(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"
	steps := func() map[string]string {
		_, doc, _ := page(t, c, "GET", base, "")
		out := map[string]string{}
		doc.Find(`[data-testid="setup-checklist"] li`).Each(func(_ int, li *goquery.Selection) {
			id, _ := li.Attr("data-testid")
			out[strings.TrimPrefix(id, "setup-")], _ = li.Attr("data-done")
		})
		return out
	}
	want := func(what string, exp map[string]string) {
		t.Helper()
		if got := steps(); fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("%s: checklist %v, want %v", what, got, exp)
		}
	}
	want("a new business", map[string]string{"staff": "false", "hours": "false", "services": "false", "share": "false"})
	_, doc, _ := page(t, c, "GET", base, "")
	if !strings.Contains(text(doc, `[data-testid="no-staff"]`), "add a staff member") {
		t.Errorf("empty calendar: %q", text(doc, `[data-testid="no-staff"]`))
	}
	if _, doc, _ = page(t, c, "GET", base+"/staff", ""); !strings.Contains(text(doc, `[data-testid="empty-hint"]`), "first person who takes bookings") {
		t.Errorf("empty staff page: %q", text(doc, `[data-testid="empty-hint"]`))
	}
	if _, doc, _ = page(t, c, "GET", base+"/services", ""); !strings.Contains(text(doc, `[data-testid="empty-hint"]`), "tick who offers it") {
		t.Errorf("empty services page: %q", text(doc, `[data-testid="empty-hint"]`))
	}
	if _, doc, _ = page(t, c, "GET", base+"/customers", ""); !strings.Contains(text(doc, `[data-testid="no-customers"]`), "book for someone who calls") {
		t.Errorf("empty customers page: %q", text(doc, `[data-testid="no-customers"]`))
	}

	// The service first: accepted, and the notice says nobody offers it yet.
	svc := url.Values{"name": {"Haircut"}, "duration": {"30"}, "price": {"20"}, "capacity": {"1"}, "bufferBefore": {"0"}, "bufferAfter": {"0"}}
	status, _, doc := post(t, c, base+"/services", svc)
	if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "Nobody offers it yet") ||
		!strings.Contains(text(doc, `[data-testid="services"]`), "nobody offers it") {
		t.Fatalf("a service before any staff: %d %q", status, text(doc, `[data-testid="flash"]`)+text(doc, `[data-testid="error-staffIds"]`))
	}
	want("a service nobody offers", map[string]string{"staff": "false", "hours": "false", "services": "false", "share": "false"})

	status, loc, _ := post(t, c, base+"/staff", url.Values{"name": {"Ana"}})
	if status != http.StatusSeeOther {
		t.Fatalf("add staff: %d", status)
	}
	want("staff with the usual hours", map[string]string{"staff": "true", "hours": "true", "services": "false", "share": "false"})
	staffID := loc[strings.LastIndex(loc, "/")+1:]
	var svcID int64
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		list, _ := s.Services(ctx, false)
		svcID = list[0].ID
	})
	svc.Set("staffIds", staffID)
	svc.Set("active", "on")
	if status, _, _ = post(t, c, base+fmt.Sprintf("/services/%d", svcID), svc); status != http.StatusSeeOther {
		t.Fatalf("choose who offers it: %d", status)
	}
	want("a service Ana offers", map[string]string{"staff": "true", "hours": "true", "services": "true", "share": "false"})
	_, doc, _ = page(t, c, "GET", base, "")
	if href, _ := doc.Find(`[data-testid="setup-share"] a`).Attr("href"); href != srv.URL+"/acme/" {
		t.Errorf("the link to share: %q", href)
	}

	// Someone booked: every step is done and the checklist goes.
	loc2, _ := time.LoadLocation("Europe/Madrid")
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		// The next weekday: the usual hours are Monday to Friday (tomorrow is a Saturday on a
		// Thursday evening in UTC, already Friday in Madrid).
		sid := domain.DateOf(time.Now().In(loc2)).AddDays(1)
		for sid.Weekday() == time.Saturday || sid.Weekday() == time.Sunday {
			sid = sid.AddDays(1)
		}
		id, err := strconv.ParseInt(staffID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: id, Start: sid.At(10*60, loc2),
			Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}, Actor: "customer"}); err != nil {
			t.Fatal(err)
		}
	})
	if _, doc, _ = page(t, c, "GET", base, ""); doc.Find(`[data-testid="setup-checklist"]`).Length() != 0 || doc.Find(`[data-testid="time-grid"]`).Length() != 1 {
		t.Errorf("checklist after the first booking: %q", text(doc, `[data-testid="setup-checklist"]`))
	}
}
