package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// signIn signs c in to business slug as email (password "correct horse battery").
func signIn(t *testing.T, srv string, c *http.Client, slug, email string) {
	t.Helper()
	status, _, h := send(t, c, "POST", srv+"/"+slug+"/admin/login", url.Values{"email": {email}, "password": {"correct horse battery"}}.Encode(), form)
	if status != http.StatusSeeOther || h.Get("Location") != "/"+slug+"/admin" {
		t.Fatalf("sign in as %s: %d %s", email, status, h.Get("Location"))
	}
}

// post submits a form and returns the status, the redirect and the page shown next (the
// redirect followed, or the page answered).
func post(t *testing.T, c *http.Client, u string, vals url.Values) (int, string, *goquery.Document) {
	t.Helper()
	status, doc, h := page(t, c, "POST", u, vals.Encode())
	loc := h.Get("Location")
	if status == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
		_, doc, _ = page(t, c, "GET", u[:strings.Index(u[8:], "/")+8]+loc, "")
	}
	return status, loc, doc
}

func text(doc *goquery.Document, sel string) string { return strings.TrimSpace(doc.Find(sel).Text()) }

func addUser(t *testing.T, m *tenancy.Manager, slug, email string, role domain.Role) int64 {
	var id int64
	withStore(t, m, slug, func(ctx context.Context, s *domain.Store) {
		u, err := s.CreateUser(ctx, domain.NewUser{Email: email, Name: "User " + email, Role: role, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		id = u.ID
	})
	return id
}

// Every dashboard page opens for an owner; owners-only pages refuse staff users; nobody
// signed out gets past the sign-in page.
func TestDashboardPages(t *testing.T) {
	srv, m := site(t)
	_, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	addUser(t, m, "acme", "staff@acme.example", domain.RoleStaff)
	owner, worker, nobody := browser(t), browser(t), browser(t)
	signIn(t, srv.URL, owner, "acme", "owner@acme.example")
	signIn(t, srv.URL, worker, "acme", "staff@acme.example")

	everyone := map[string]string{"": "admin-calendar", "/calendar?view=week": "admin-calendar", "/bookings/new": "admin-calendar",
		"/customers": "admin-customers", "/account": "admin-account"}
	owners := map[string]string{"/services": "admin-services", "/staff": "admin-staff", fmt.Sprintf("/staff/%d", staff[0]): "admin-staff",
		"/resources": "admin-resources", "/settings": "admin-settings", "/users": "admin-users", "/tokens": "admin-tokens"}
	for path, id := range everyone {
		for who, c := range map[string]*http.Client{"owner": owner, "staff": worker} {
			if status, doc, _ := page(t, c, "GET", srv.URL+"/acme/admin"+path, ""); status != 200 || doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
				t.Errorf("%s GET %s: %d", who, path, status)
			}
		}
	}
	for path, id := range owners {
		if status, doc, _ := page(t, owner, "GET", srv.URL+"/acme/admin"+path, ""); status != 200 || doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("owner GET %s: %d", path, status)
		}
		if status, _, _ := page(t, worker, "GET", srv.URL+"/acme/admin"+path, ""); status != http.StatusForbidden {
			t.Errorf("staff GET %s: %d, want 403", path, status)
		}
	}
	for path := range owners {
		if status, _, h := send(t, nobody, "GET", srv.URL+"/acme/admin"+path, "", nil); status != http.StatusSeeOther || h.Get("Location") != "/acme/admin/login" {
			t.Errorf("signed out GET %s: %d %s", path, status, h.Get("Location"))
		}
		if status, _, _ := send(t, nobody, "POST", srv.URL+"/acme/admin"+path, "name=x", form); status != http.StatusSeeOther {
			t.Errorf("signed out POST %s: %d", path, status)
		}
	}
	// Staff users see no owners' links.
	_, doc, _ := page(t, worker, "GET", srv.URL+"/acme/admin", "")
	if doc.Find(`nav a[href="/acme/admin/settings"]`).Length() != 0 {
		t.Error("staff user sees the settings link")
	}
	// The static assets are embedded, versioned and cached.
	href := attr(t, doc, `link[rel="stylesheet"]`, "href")
	res, err := http.Get(srv.URL + href)
	if err != nil || res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet %s: %v %v", href, err, res)
	}
}

// The owner sets up staff, hours, a date override, time off, a resource and a service from the
// dashboard; bad input comes back next to its field with the input kept.
func TestDashboardCatalog(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"

	status, _, doc := post(t, c, base+"/staff", url.Values{"name": {"  "}, "email": {"bea@acme.example"}})
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-name"]`) == "" || attr(t, doc, "#email", "value") != "bea@acme.example" {
		t.Fatalf("staff without a name: %d", status)
	}
	status, loc, doc := post(t, c, base+"/staff", url.Values{"name": {"Bea"}, "email": {"bea@acme.example"}})
	if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "Bea added") {
		t.Fatalf("add staff: %d %s", status, loc)
	}
	staffURL := srv.URL + loc
	if from, to := attr(t, doc, "#hours-mon-0-from", "value"), attr(t, doc, "#hours-mon-0-to", "value"); from != "09:00" || to != "17:00" {
		t.Errorf("new staff's Monday: %q–%q", from, to)
	}

	hours := url.Values{"name": {"Bea"}, "email": {"bea@acme.example"}, "active": {"on"},
		"hours-mon-from": {"09:00", "14:00"}, "hours-mon-to": {"13:00", "18:00"}, "hours-tue-from": {"10:00"}, "hours-tue-to": {"25:00"},
		"hours-wed-from": {"09:00", "11:00"}, "hours-wed-to": {"12:00", "13:00"}}
	status, _, doc = post(t, c, staffURL, hours)
	if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-hours-tue"]`), "Tuesday, range 1: enter times as HH:MM") ||
		attr(t, doc, "#hours-mon-1-from", "value") != "14:00" {
		t.Fatalf("bad hours: %d %s", status, text(doc, `[data-testid="error-hours-tue"]`))
	}
	hours.Set("hours-tue-to", "18:00")
	status, _, doc = post(t, c, staffURL, hours)
	if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-hours-wed"]`), "overlap") {
		t.Fatalf("overlapping hours: %d %q", status, text(doc, `[data-testid="error-hours-wed"]`))
	}
	hours.Del("hours-wed-from")
	hours.Del("hours-wed-to")
	if status, _, doc = post(t, c, staffURL, hours); status != http.StatusSeeOther || text(doc, `[data-testid="flash"]`) != "Saved." {
		t.Fatalf("save hours: %d", status)
	}
	day := domain.DateOf(time.Now()).AddDays(10).String()
	if status, _, doc = post(t, c, staffURL+"/overrides", url.Values{"date": {day}, "hours": {""}}); status != http.StatusSeeOther ||
		!strings.Contains(text(doc, `[data-testid="overrides"]`), day+": closed") {
		t.Errorf("closed on a date: %d %s", status, text(doc, `[data-testid="overrides"]`))
	}
	if status, _, doc = post(t, c, staffURL+"/timeoff", url.Values{"fromDate": {day}, "fromTime": {"12:00"}, "toDate": {day}, "toTime": {"11:00"}}); status != http.StatusUnprocessableEntity ||
		text(doc, `[data-testid="error-toTime"]`) == "" {
		t.Errorf("time off ending before it starts: %d", status)
	}
	if status, _, doc = post(t, c, staffURL+"/timeoff", url.Values{"fromDate": {day}, "fromTime": {"12:00"}, "toDate": {day}, "toTime": {"15:00"}, "reason": {"Dentist"}}); status != http.StatusSeeOther ||
		!strings.Contains(text(doc, `[data-testid="time-off"]`), "Dentist") {
		t.Errorf("time off: %d", status)
	}
	if status, _, _ = post(t, c, base+"/resources", url.Values{"name": {"Room 1"}}); status != http.StatusSeeOther {
		t.Errorf("resource: %d", status)
	}

	svc := url.Values{"name": {"Facial"}, "duration": {"45"}, "price": {"thirty"}, "capacity": {"1"}, "bufferBefore": {"0"}, "bufferAfter": {"15"}}
	status, _, doc = post(t, c, base+"/services", svc)
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-price"]`) == "" || attr(t, doc, "#name", "value") != "Facial" {
		t.Fatalf("price in words: %d", status)
	}
	staffID := attr(t, doc, `input[name="staffIds"]`, "value")
	svc.Set("staffIds", staffID)
	svc.Set("price", "30.5")
	if status, _, doc = post(t, c, base+"/services", svc); status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="services"]`), "30.50 EUR") {
		t.Fatalf("add service: %d", status)
	}

	// What the dashboard set is what the booking site offers: Monday has two ranges with a
	// break; the closed date has nothing.
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		list, _ := s.StaffList(ctx, false)
		if len(list) != 1 || len(list[0].Hours[time.Monday]) != 2 || list[0].Hours[time.Monday][1] != (domain.Interval{Start: 14 * 60, End: 18 * 60}) {
			t.Errorf("stored hours: %+v", list)
		}
		services, _ := s.Services(ctx, false)
		if len(services) != 1 || services[0].Price.Amount != 3050 || services[0].BufferAfter != 15*time.Minute {
			t.Fatalf("stored service: %+v", services)
		}
		d, _ := domain.ParseDate(day)
		days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: services[0].ID, From: d, To: d})
		if err != nil || len(days[0].Slots) != 0 {
			t.Errorf("closed date has slots: %v %v", err, days)
		}
	})
	_, doc, _ = page(t, c, "GET", srv.URL+"/acme", "")
	if !strings.Contains(text(doc, `[data-testid="service"]`), "Facial") {
		t.Errorf("booking site: %s", text(doc, "main"))
	}
}

// Bookings in the calendar, with their actions; moving onto a taken time is refused with a
// message; a booking for a customer from the dashboard.
func TestDashboardCalendar(t *testing.T) {
	srv, m := site(t)
	svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	var first, second domain.Booking
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		var err error
		first, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At(10*60, loc),
			Customer: domain.Customer{Name: "Eva Pérez", Email: "eva@example.com"}, Actor: "customer"})
		if err != nil {
			t.Fatal(err)
		}
		second, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At(12*60, loc),
			Customer: domain.Customer{Name: "Leo", Email: "leo@example.com"}, Actor: "customer"})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Views", func(t *testing.T) {
		_, doc, _ := page(t, c, "GET", base+"/calendar?date="+day.String(), "")
		cards := doc.Find(`[data-testid="booking"]`)
		if cards.Length() != 2 || !strings.Contains(cards.First().Text(), "10:00–11:00") || !strings.Contains(cards.First().Text(), "Eva Pérez") {
			t.Fatalf("day view: %d bookings: %s", cards.Length(), text(doc, "main"))
		}
		_, doc, _ = page(t, c, "GET", base+"/calendar?view=week&date="+day.String(), "")
		if n := doc.Find(`[data-testid="cal-day"]`).Length(); n != 7 || doc.Find(`[data-testid="cal-day"][data-date="`+day.String()+`"] [data-testid="booking"]`).Length() != 2 {
			t.Errorf("week view: %d days", n)
		}
		_, doc, _ = page(t, c, "GET", base+fmt.Sprintf("/calendar?date=%s&staff=%d", day, staff[0]+99), "")
		if doc.Find(`[data-testid="booking"]`).Length() != 0 {
			t.Error("a staff filter for nobody shows bookings")
		}
	})

	t.Run("Outcomes", func(t *testing.T) {
		// An outcome waits for the booking to start: before, it is neither offered nor taken.
		// The actions are in the side panel of the booking opened from the grid, not on its card.
		open := fmt.Sprintf("&booking=%d", second.ID)
		back := "/acme/admin/calendar?date=" + day.String() + open
		secondCard := fmt.Sprintf(`[data-testid="booking"][data-id="%d"]`, second.ID)
		panel := fmt.Sprintf(`[data-testid="booking-panel"][data-id="%d"]`, second.ID)
		_, doc, _ := page(t, c, "GET", base+back[len("/acme/admin"):], "")
		if doc.Find(secondCard).Length() != 1 || doc.Find(panel).Length() != 1 || doc.Find(panel+` [data-testid="action-no-show"], `+panel+` [data-testid="action-complete"]`).Length() != 0 {
			t.Errorf("a booking that has not started offers an outcome: %s", text(doc, panel))
		}
		if n := doc.Find(`[data-testid="cancel-form"]`).Length(); n != 1 || doc.Find(panel+` [data-testid="cancel-form"]`).Length() != 1 {
			t.Errorf("%d cancel forms on the calendar, want one, in the panel", n)
		}
		status, _, doc := post(t, c, base+fmt.Sprintf("/bookings/%d/no-show", second.ID), url.Values{"back": {back}})
		if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "once it has started") || doc.Find(secondCard+`[data-status="confirmed"]`).Length() != 1 {
			t.Errorf("no-show before the start: %d %s", status, text(doc, `[data-testid="flash"]`))
		}
		// Moved four days back behind the server's back, it has started: now it can be marked.
		shiftBooking(t, m, "acme", second.ID, -4*24*time.Hour)
		back = "/acme/admin/calendar?date=" + day.AddDays(-4).String() + open
		status, loc2, doc := post(t, c, base+fmt.Sprintf("/bookings/%d/no-show", second.ID), url.Values{"back": {back}})
		if status != http.StatusSeeOther || loc2 != back || doc.Find(secondCard+`[data-status="no_show"]`).Length() != 1 || !strings.Contains(text(doc, secondCard), "(no-show)") {
			t.Errorf("no-show: %d %s %s", status, loc2, text(doc, secondCard))
		}
		// Another site as the return address is ignored.
		if _, loc2, _ = post(t, c, base+fmt.Sprintf("/bookings/%d/confirm", first.ID), url.Values{"back": {"//evil.example/x"}}); loc2 != fmt.Sprintf("/acme/admin/bookings/%d", first.ID) {
			t.Errorf("open redirect: %s", loc2)
		}
		status, _, doc = post(t, c, base+fmt.Sprintf("/bookings/%d/complete", second.ID), url.Values{"back": {back}})
		if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "Not done") {
			t.Errorf("completing a no-show: %d %s", status, text(doc, `[data-testid="flash"]`))
		}
		// A wrong outcome is taken back from the card: confirmed again, outcomes offered again.
		if doc.Find(panel+` [data-testid="action-reopen"]`).Length() != 1 {
			t.Errorf("no way to take back the no-show: %s", text(doc, panel))
		}
		status, _, doc = post(t, c, base+fmt.Sprintf("/bookings/%d/reopen", second.ID), url.Values{"back": {back}})
		if status != http.StatusSeeOther || doc.Find(secondCard+`[data-status="confirmed"]`).Length() != 1 || doc.Find(panel+` [data-testid="action-complete"]`).Length() != 1 ||
			!strings.Contains(text(doc, `[data-testid="flash"]`), "reopened") {
			t.Errorf("reopen: %d %s", status, text(doc, secondCard))
		}
	})

	t.Run("Move", func(t *testing.T) {
		// Moving onto another booking's time is refused, the form keeps what was typed.
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At(14*60, loc),
				Customer: domain.Customer{Name: "Kim", Email: "kim@example.com"}, Actor: "customer"}); err != nil {
				t.Fatal(err)
			}
		})
		move := url.Values{"date": {day.String()}, "time": {"14:30"}, "staff": {fmt.Sprint(staff[0])}}
		status, _, doc := post(t, c, base+fmt.Sprintf("/bookings/%d/move", first.ID), move)
		if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-time"]`), "not free") || attr(t, doc, "#time", "value") != "14:30" {
			t.Fatalf("move onto a taken time: %d %s", status, text(doc, `[data-testid="error-time"]`))
		}
		move.Set("time", "25:00")
		if status, _, doc = post(t, c, base+fmt.Sprintf("/bookings/%d/move", first.ID), move); status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-time"]`) == "" {
			t.Errorf("move to 25:00: %d", status)
		}
		move.Set("time", "16:00")
		if status, _, doc = post(t, c, base+fmt.Sprintf("/bookings/%d/move", first.ID), move); status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="booking-when"]`), "16:00–17:00") {
			t.Errorf("move: %d %s", status, text(doc, `[data-testid="booking-when"]`))
		}
		if !strings.Contains(text(doc, `[data-testid="events"]`), "rescheduled by staff:Owner of acme") {
			t.Errorf("history: %s", text(doc, `[data-testid="events"]`))
		}
		status, _, doc = post(t, c, base+fmt.Sprintf("/bookings/%d/cancel", first.ID), url.Values{"reason": {"Closed for a burst pipe"}})
		if status != http.StatusSeeOther || text(doc, `[data-testid="booking-status"]`) != "cancelled" {
			t.Errorf("cancel: %d", status)
		}
	})

	t.Run("BookForCustomer", func(t *testing.T) {
		// A booking for a customer on the phone: bad email kept and explained; then booked.
		nb := url.Values{"service": {fmt.Sprint(svcID)}, "staff": {""}, "date": {day.String()}, "time": {"09:00"}, "name": {"Walk In"}, "email": {"not-an-email"}}
		status, _, doc := post(t, c, base+"/bookings", nb)
		if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-email"]`) == "" || attr(t, doc, "#name", "value") != "Walk In" {
			t.Fatalf("bad email: %d %s", status, text(doc, "main"))
		}
		nb.Set("email", "walk@example.com")
		if status, _, doc = post(t, c, base+"/bookings", nb); status != http.StatusSeeOther || !strings.Contains(text(doc, "main"), "Walk In") {
			t.Fatalf("book for a customer: %d %s", status, text(doc, "main"))
		}
		if status, _, doc = post(t, c, base+"/bookings", nb); status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-time"]`), "not free") {
			t.Errorf("double booking from the dashboard: %d", status)
		}
		// By phone, a name and a phone (or a name alone) are enough; nobody is mailed.
		for i, who := range []url.Values{{"name": {"Pablo"}, "phone": {"600 111 222"}}, {"name": {"Walk-in Two"}}} {
			phone := url.Values{"service": {fmt.Sprint(svcID)}, "staff": {""}, "date": {day.String()}, "time": {fmt.Sprintf("%02d:00", 15+i)},
				"name": who["name"], "phone": who["phone"]}
			status, _, doc = post(t, c, base+"/bookings", phone)
			if main := text(doc, "main"); status != http.StatusSeeOther || !strings.Contains(main, who.Get("name")) || !strings.Contains(main, "no confirmation") {
				t.Errorf("book %v by phone without email: %d %s", who, status, main)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if status, _, _ := page(t, c, "GET", base+"/bookings/999999", ""); status != http.StatusNotFound {
			t.Errorf("unknown booking: %d", status)
		}
	})
}

// Customers: search, history, notes, erasure of one customer's personal data.
func TestDashboardCustomers(t *testing.T) {
	srv, m := site(t)
	svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(2)
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		for i, name := range []string{"Eva Pérez", "Leo Marín"} {
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At((10+i)*60, loc),
				Customer: domain.Customer{Name: name, Email: fmt.Sprintf("c%d@example.com", i), Phone: "+34 600 00 00 0" + fmt.Sprint(i)}, Actor: "customer"}); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"
	_, doc, _ := page(t, c, "GET", base+"/customers?q=mar%C3%ADn", "")
	rows := doc.Find(`[data-testid="customer-row"]`)
	if rows.Length() != 1 || !strings.Contains(rows.Text(), "Leo Marín") {
		t.Fatalf("search: %s", text(doc, "main"))
	}
	if _, doc, _ = page(t, c, "GET", base+"/customers?q=%25", ""); doc.Find(`[data-testid="customer-row"]`).Length() != 0 {
		t.Error("a % search matches everyone")
	}
	href, _ := rows.Find("a").Attr("href")
	_, doc, _ = page(t, c, "GET", srv.URL+href, "")
	if !strings.Contains(text(doc, `[data-testid="history"]`), "11:00–12:00") {
		t.Errorf("history: %s", text(doc, `[data-testid="history"]`))
	}
	if got := text(doc, `[data-testid="customer-contact"]`); !strings.HasPrefix(got, "c1@example.com · +34 600 00 00 01 (customer since") {
		t.Errorf("contact line %q", got)
	}
	if status, _, doc := post(t, c, srv.URL+href+"/notes", url.Values{"notes": {"Prefers mornings"}}); status != http.StatusSeeOther || !strings.Contains(doc.Find("#notes").Text(), "Prefers mornings") {
		t.Errorf("notes: %d", status)
	}
	if status, _, _ := send(t, c, "POST", srv.URL+href+"/notes", "notes="+strings.Repeat("x", 2<<20), form); status != http.StatusRequestEntityTooLarge {
		t.Errorf("notes over the body limit: %d, want 413", status)
	}
	if _, doc, _ := page(t, c, "GET", srv.URL+href, ""); !strings.Contains(doc.Find("#notes").Text(), "Prefers mornings") {
		t.Error("a body over the limit wiped the notes")
	}
	if _, _, doc := post(t, c, srv.URL+href+"/anonymise", url.Values{}); !strings.Contains(text(doc, `[data-testid="flash"]`), "tick the box") {
		t.Error("erasure without confirmation went ahead")
	}
	if status, _, doc := post(t, c, srv.URL+href+"/anonymise", url.Values{"confirm": {"yes"}}); status != http.StatusSeeOther || strings.Contains(text(doc, "main"), "Marín") {
		t.Errorf("erasure: %d %s", status, text(doc, "main"))
	}
}

// Users and API tokens: owners add users and tokens; a token's secret shows once and works
// until revoked; the last owner stays.
func TestDashboardUsersAndTokens(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"

	u := url.Values{"name": {"Sam"}, "email": {"sam@acme.example"}, "role": {"staff"}, "password": {"short"}}
	status, _, doc := post(t, c, base+"/users", u)
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-password"]`) == "" || attr(t, doc, "#password", "value") != "" || attr(t, doc, "#email", "value") != "sam@acme.example" {
		t.Fatalf("short password: %d", status)
	}
	u.Set("password", "another good password")
	if status, _, _ = post(t, c, base+"/users", u); status != http.StatusSeeOther {
		t.Fatalf("add user: %d", status)
	}
	if status, _, doc = post(t, c, base+"/users", u); status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-email"]`), "already exists") {
		t.Errorf("same email twice: %d", status)
	}
	sam := browser(t)
	if status, _, _ := send(t, sam, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"sam@acme.example"}, "password": {"another good password"}}.Encode(), form); status != http.StatusSeeOther {
		t.Errorf("the new user signs in: %d", status)
	}
	ownerRow := doc.Find(`[data-testid="user-row"]`).FilterFunction(func(_ int, s *goquery.Selection) bool { return strings.Contains(s.Text(), "owner@acme.example") })
	removeURL, _ := ownerRow.Find(`form[action$="/remove"]`).Attr("action")
	if _, _, doc = post(t, c, srv.URL+removeURL, url.Values{}); !strings.Contains(text(doc, `[data-testid="flash"]`), "at least one owner") {
		t.Errorf("removing the last owner: %s", text(doc, `[data-testid="flash"]`))
	}

	status, _, doc = post(t, c, base+"/tokens", url.Values{"name": {"Zapier"}, "role": {"staff"}})
	secret := text(doc, `[data-testid="token-secret"]`)
	if status != http.StatusSeeOther || !strings.HasPrefix(secret, "rsv_") {
		t.Fatalf("create token: %d %q", status, secret)
	}
	if _, doc, _ = page(t, c, "GET", base+"/tokens", ""); doc.Find(`[data-testid="token-secret"]`).Length() != 0 || strings.Contains(text(doc, "main"), secret) {
		t.Error("the secret is shown again")
	}
	api := func() string {
		_, body, _ := send(t, http.DefaultClient, "POST", srv.URL+"/acme/graphql", `{"query":"{ me { name } }"}`,
			map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + secret})
		return body
	}
	if body := api(); !strings.Contains(body, `"name":"Zapier"`) {
		t.Errorf("token on the API: %s", body)
	}
	revokeURL, _ := doc.Find(`[data-testid="token-row"] form`).Attr("action")
	if status, _, _ = post(t, c, srv.URL+revokeURL, url.Values{}); status != http.StatusSeeOther {
		t.Errorf("revoke: %d", status)
	}
	if body := api(); !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("revoked token on the API: %s", body)
	}
}

func pngLogo(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func upload(t *testing.T, c *http.Client, u string, fields map[string]string, file []byte) (int, string, http.Header) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, _ := w.CreateFormFile("logo", "logo.bin")
		if _, err := fw.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	return send(t, c, "POST", u, body.String(), map[string]string{"Content-Type": w.FormDataContentType()})
}

// Settings and branding: rules saved or refused per field; a logo is uploaded to the blob
// store and shown on the booking site; an SVG (scripts) is refused.
func TestDashboardSettingsAndBranding(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"
	st := url.Values{"address": {"Calle Mayor 1"}, "contactEmail": {"hi@acme.example"}, "currency": {"euro"}, "locale": {"es-ES"},
		"slotStep": {"15"}, "minNotice": {"60"}, "horizon": {"60"}, "cancelCutoff": {"120"}}
	status, _, doc := post(t, c, base+"/settings", st)
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-currency"]`) == "" || doc.Find("#address").Text() != "Calle Mayor 1" {
		t.Fatalf("bad currency: %d", status)
	}
	st.Set("currency", "eur")
	st.Set("slotStep", "7")
	if status, _, doc = post(t, c, base+"/settings", st); status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-slotStep"]`) == "" {
		t.Fatalf("slot step 7: %d", status)
	}
	st.Set("slotStep", "15")
	if status, _, _ = post(t, c, base+"/settings", st); status != http.StatusSeeOther {
		t.Fatalf("save settings: %d", status)
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		got, _ := s.Settings(ctx)
		if got.Currency != "EUR" || got.CancelCutoff != 2*time.Hour || got.Address != "Calle Mayor 1" {
			t.Errorf("stored settings: %+v", got)
		}
	})

	if status, body, _ := upload(t, c, base+"/settings/branding", map[string]string{"brandColor": "red"}, nil); status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-brandColor"`) {
		t.Errorf("colour 'red': %d", status)
	}
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	if status, body, _ := upload(t, c, base+"/settings/branding", map[string]string{"brandColor": "#aa3300"}, svg); status != http.StatusUnprocessableEntity || !strings.Contains(body, "PNG, JPEG, WebP or GIF") {
		t.Errorf("SVG logo: %d", status)
	}
	logo := pngLogo(t)
	if status, _, _ := upload(t, c, base+"/settings/branding", map[string]string{"brandColor": "#aa3300"}, logo); status != http.StatusSeeOther {
		t.Fatalf("upload logo: %d", status)
	}
	_, doc, _ = page(t, http.DefaultClient, "GET", srv.URL+"/acme", "")
	src := attr(t, doc, `[data-testid="business-logo"]`, "src")
	if style, _ := doc.Find("body").Attr("style"); !strings.Contains(style, "#aa3300") {
		t.Errorf("brand colour on the booking site: %q", style)
	}
	res, err := http.Get(srv.URL + src)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got.Bytes(), logo) {
		t.Errorf("logo: %d %s %d bytes", res.StatusCode, res.Header.Get("Content-Type"), got.Len())
	}
	// A new logo gets a new address; the colour and logo stay as they were when a part of the
	// form is refused.
	logo2 := pngLogo(t)
	logo2 = append(logo2[:len(logo2):len(logo2)], 0) // other bytes, still a PNG
	if status, _, _ := upload(t, c, base+"/settings/branding", map[string]string{"brandColor": "#aa3300"}, logo2); status != http.StatusSeeOther {
		t.Fatalf("second logo: %d", status)
	}
	_, doc, _ = page(t, http.DefaultClient, "GET", srv.URL+"/acme", "")
	if src2 := attr(t, doc, `[data-testid="business-logo"]`, "src"); src2 == src {
		t.Errorf("a new logo kept the address %s: caches would show the old one", src)
	}
	if status, body, _ := upload(t, c, base+"/settings/branding", map[string]string{"brandColor": "#000000"}, svg); status != http.StatusUnprocessableEntity || !strings.Contains(body, `value="#000000"`) {
		t.Errorf("refused logo: %d", status)
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		if b, _ := s.Branding(ctx); b.Color != "#aa3300" || b.LogoVersion != domain.LogoVersion(logo2) {
			t.Errorf("a refused form changed the branding: %+v", b)
		}
	})
	if status, _, _ := send(t, c, "POST", base+"/settings/branding", "brandColor=%23000000", form); status != http.StatusBadRequest {
		t.Errorf("branding not as multipart: %d, want 400", status)
	}
	// Another business has no logo, and cannot reach this one's.
	if status, _, _ := send(t, http.DefaultClient, "GET", srv.URL+"/other/logo", "", nil); status != http.StatusNotFound {
		t.Errorf("other's logo: %d", status)
	}
}

// Password reset by email: the link is in the outbox, signs the user in once, ends their
// other sessions, and cannot be used again. Unknown emails get the same answer.
func TestPasswordReset(t *testing.T) {
	srv, m := site(t)
	other := browser(t)
	signIn(t, srv.URL, other, "acme", "owner@acme.example")
	c := browser(t)
	for _, email := range []string{"owner@acme.example", "nobody@acme.example"} {
		status, _, doc := post(t, c, srv.URL+"/acme/admin/forgot", url.Values{"email": {email}})
		if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="forgot-sent"]`), "is on its way") {
			t.Fatalf("forgot %s: %d", email, status)
		}
	}
	var link string
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		msgs, err := s.DueMessages(ctx, 10)
		if err != nil || len(msgs) != 1 || msgs[0].Kind != "password_reset" || msgs[0].To != "owner@acme.example" {
			t.Fatalf("outbox: %v %+v", err, msgs)
		}
		link = msgs[0].LinkPath
	})
	resetURL := srv.URL + "/acme/" + link
	status, _, doc := post(t, c, resetURL, url.Values{"password": {"a brand new password"}, "confirm": {"a brand new passwort"}})
	if status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-confirm"]`) == "" {
		t.Errorf("passwords differ: %d", status)
	}
	status, loc, _ := post(t, c, resetURL, url.Values{"password": {"a brand new password"}, "confirm": {"a brand new password"}})
	if status != http.StatusSeeOther || loc != "/acme/admin" {
		t.Fatalf("reset: %d %s", status, loc)
	}
	if status, _, _ := send(t, c, "GET", srv.URL+"/acme/admin/customers", "", nil); status != 200 {
		t.Errorf("signed in after the reset: %d", status)
	}
	if status, _, _ := send(t, other, "GET", srv.URL+"/acme/admin/customers", "", nil); status != http.StatusSeeOther {
		t.Errorf("another session survived the reset: %d", status)
	}
	if status, body, _ := send(t, browser(t), "GET", resetURL, "", nil); status != http.StatusGone || !strings.Contains(body, "reset-expired") {
		t.Errorf("used link: %d", status)
	}
	if status, _, _ := send(t, browser(t), "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"a brand new password"}}.Encode(), form); status != http.StatusSeeOther {
		t.Errorf("sign in with the new password: %d", status)
	}
	// The link of one business means nothing on another.
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/other/"+link, "", nil); status != http.StatusGone {
		t.Errorf("acme's link on other: %d", status)
	}
}

func TestSignOutEverywhere(t *testing.T) {
	srv, _ := site(t)
	a, b := browser(t), browser(t)
	signIn(t, srv.URL, a, "acme", "owner@acme.example")
	signIn(t, srv.URL, b, "acme", "owner@acme.example")
	if status, loc, _ := post(t, a, srv.URL+"/acme/admin/signout-everywhere", url.Values{}); status != http.StatusSeeOther || loc != "/acme/admin/login?msg=everywhere" {
		t.Fatalf("sign out everywhere: %d %s", status, loc)
	}
	for name, c := range map[string]*http.Client{"this": a, "other": b} {
		if status, _, _ := send(t, c, "GET", srv.URL+"/acme/admin", "", nil); status != http.StatusSeeOther {
			t.Errorf("%s session still signed in: %d", name, status)
		}
	}
	signIn(t, srv.URL, b, "acme", "owner@acme.example")
	if status, _, _ := send(t, b, "GET", srv.URL+"/acme/admin", "", nil); status != 200 {
		t.Errorf("signing in again: %d", status)
	}
}

// The owner downloads the business's data, then deletes the business: everything goes.
func TestExportAndDeleteBusiness(t *testing.T) {
	srv, m := site(t)
	svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	loc, _ := time.LoadLocation("Europe/Madrid")
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: domain.DateOf(time.Now().In(loc)).AddDays(1).At(10*60, loc),
			Customer: domain.Customer{Name: "Eva Export", Email: "eva@example.com"}, IdempotencyKey: "eva-retry-key-7f3a", Actor: "customer"}); err != nil {
			t.Fatal(err)
		}
		// Taken by phone: the customer gave no email.
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: domain.DateOf(time.Now().In(loc)).AddDays(1).At(11*60, loc),
			Customer: domain.Customer{Name: "Pablo Phone", Phone: "600 111 222"}, OnBehalf: true, Actor: "staff:Owner"}); err != nil {
			t.Fatal(err)
		}
	})
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin"
	status, body, h := send(t, c, "GET", base+"/export.zip", "", nil)
	if status != 200 || h.Get("Content-Type") != "application/zip" || !strings.Contains(h.Get("Content-Disposition"), "acme-export-") {
		t.Fatalf("export: %d %v", status, h)
	}
	zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		_ = rc.Close()
		files[f.Name] = b.String()
	}
	if !strings.Contains(files["customers.json"], "Eva Export") || !strings.Contains(files["dump.sql"], "CREATE TABLE bookings") ||
		strings.Contains(files["users.json"], "argon2id") {
		t.Errorf("export files: %d, customers %q", len(files), files["customers.json"])
	}
	// A booking's idempotency key would get its holder a new manage link: it stays home.
	for name, text := range files {
		if strings.Contains(text, "eva-retry-key-7f3a") {
			t.Errorf("%s holds a booking's idempotency key", name)
		}
	}
	// The customer who gave no email has none in the export: no made-up address stands in.
	var customers []map[string]any
	if err := json.Unmarshal([]byte(files["customers.json"]), &customers); err != nil {
		t.Fatalf("customers.json: %v", err)
	}
	emails := map[string]any{}
	for _, c := range customers {
		emails[fmt.Sprint(c["name"])] = c["email"]
	}
	if email, ok := emails["Pablo Phone"]; !ok || (email != nil && email != "") || emails["Eva Export"] != "eva@example.com" {
		t.Errorf("emails in customers.json: %v; want Pablo Phone's null or empty", emails)
	}
	for name, f := range files {
		if strings.Contains(f, "noemail") {
			t.Errorf("%s holds a placeholder for a missing email", name)
		}
	}
	worker := browser(t)
	addUser(t, m, "acme", "staff@acme.example", domain.RoleStaff)
	signIn(t, srv.URL, worker, "acme", "staff@acme.example")
	if status, _, _ := send(t, worker, "GET", base+"/export.zip", "", nil); status != http.StatusForbidden {
		t.Errorf("staff export: %d", status)
	}

	tn, _, _ := m.Resolve(context.Background(), "acme")
	path, _ := m.Path(tn.ID)
	status, _, doc := post(t, c, base+"/delete", url.Values{"confirm": {"acm"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-confirm"]`), "type acme") {
		t.Fatalf("wrong slug: %d", status)
	}
	// While something else uses the business (a live API connection, say), it is not deleted
	// and nothing waits: the owner is told, and stays signed in.
	held, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	status, _, doc = post(t, c, base+"/delete", url.Values{"confirm": {"acme"}})
	held.Release()
	if status != http.StatusConflict || !strings.Contains(text(doc, `[data-testid="form-error"]`), "in use") {
		t.Errorf("delete while in use: %d %s", status, text(doc, `[data-testid="form-error"]`))
	}
	if status, _, _ := send(t, c, "GET", base, "", nil); status != 200 {
		t.Errorf("signed out by a delete that did not happen: %d", status)
	}
	status, loc2, _ := post(t, c, base+"/delete", url.Values{"confirm": {"acme"}})
	if status != http.StatusSeeOther || loc2 != "/?msg=deleted" {
		t.Fatalf("delete: %d %s", status, loc2)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("database file still there: %v", err)
	}
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/acme", "", nil); status != http.StatusNotFound {
		t.Errorf("deleted business's site: %d", status)
	}
	if u, _ := url.Parse(srv.URL); len(c.Jar.Cookies(u)) != 0 {
		t.Errorf("the deleted business's session cookie is still set: %v", c.Jar.Cookies(u))
	}
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/other", "", nil); status != 200 {
		t.Errorf("the other business: %d", status)
	}
}

// shiftBooking moves booking id of business slug by d with SQL, behind the server's back: the
// way to have a booking that has already started.
func shiftBooking(t *testing.T, m *tenancy.Manager, slug string, id int64, d time.Duration) {
	t.Helper()
	withLease(t, m, slug, func(ctx context.Context, l *tenancy.Lease) {
		s := int64(d / time.Second)
		if _, err := l.DB.Write.ExecContext(ctx, `UPDATE bookings SET start_at = start_at + ?, end_at = end_at + ?,
			block_start = block_start + ?, block_end = block_end + ? WHERE id = ?`, s, s, s, s, id); err != nil {
			t.Fatal(err)
		}
	})
}
