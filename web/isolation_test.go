package web_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// marker is in every piece of business B's data: no answer to A's visitors may contain it.
const marker = "BMARKER"

// isolationFixture gives business "other" (B) more of everything than "acme" (A), so B's ids
// include ones A does not have, with the marker in every text; it returns B's booking manage
// tokens, API token, session cookie value and a reset link.
func isolationFixture(t *testing.T, srv string, m *tenancy.Manager) (manage []string, apiToken, session string) {
	t.Helper()
	openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(2)
	withStore(t, m, "other", func(ctx context.Context, s *domain.Store) {
		var h domain.WeeklyHours
		for d := range h {
			h[d] = []domain.Interval{{Start: 8 * 60, End: 20 * 60}}
		}
		var staff []int64
		for i := range 3 {
			id, err := s.CreateStaff(ctx, domain.Staff{Name: fmt.Sprintf("%s staff %d", marker, i), Email: fmt.Sprintf("s%d@bmarker.example", i), Hours: h})
			if err != nil {
				t.Fatal(err)
			}
			staff = append(staff, id)
			if _, err := s.AddTimeOff(ctx, domain.TimeOff{StaffID: id, Start: day.AddDays(5).At(9*60, loc), End: day.AddDays(5).At(10*60, loc), Reason: marker}); err != nil {
				t.Fatal(err)
			}
		}
		var services []int64
		for i := range 3 {
			id, err := s.CreateService(ctx, domain.Service{Name: fmt.Sprintf("%s service %d", marker, i), Description: marker, Duration: time.Hour,
				Capacity: 1, Price: domain.Money{Amount: 1000, Currency: "EUR"}, StaffIDs: staff})
			if err != nil {
				t.Fatal(err)
			}
			services = append(services, id)
		}
		for i := range 6 {
			_, tok, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: services[i%3], StaffID: staff[i%3], Start: day.At((9+i)*60, loc),
				Notes: marker, Actor: "customer", Customer: domain.Customer{Name: fmt.Sprintf("%s customer %d", marker, i), Email: fmt.Sprintf("c%d@bmarker.example", i)}})
			if err != nil {
				t.Fatal(err)
			}
			manage = append(manage, string(tok))
		}
		if _, err := s.CreateResource(ctx, marker+" room"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			u, err := s.CreateUser(ctx, domain.NewUser{Email: fmt.Sprintf("u%d@bmarker.example", i), Name: marker + " user", Role: domain.RoleStaff, Password: "correct horse battery"})
			if err != nil {
				t.Fatal(err)
			}
			if _, apiToken, err = s.CreateAPIToken(ctx, marker+" token", domain.RoleOwner, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RequestPasswordReset(ctx, "owner@other.example", marker); err != nil {
			t.Fatal(err)
		}
	})
	b := browser(t)
	signIn(t, srv, b, "other", "owner@other.example")
	u, _ := url.Parse(srv)
	for _, c := range b.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "reserva_") {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie for B")
	}
	return manage, apiToken, session
}

// digest summarises every table of business slug, to prove nothing of it changed.
func digest(t *testing.T, m *tenancy.Manager, slug string) string {
	t.Helper()
	tn, _, _ := m.Resolve(context.Background(), slug)
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	h := sha256.New()
	for _, table := range []string{"settings", "staff", "staff_time_off", "staff_date_overrides", "services", "service_staff", "resources",
		"customers", "bookings", "booking_tokens", "booking_events", "users", "api_tokens", "password_resets"} {
		rows, err := l.DB.Read.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s%v\n", table, vals)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Isolation: every GraphQL operation and dashboard route of business A, tried with business B's
// ids, tokens and cookies, neither shows nor changes anything of B's.
func TestTenantIsolation(t *testing.T) {
	srv, m := site(t)
	manage, bToken, bSession := isolationFixture(t, srv.URL, m)
	before := digest(t, m, "other")

	var aToken string
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		users, _ := s.Users(ctx)
		// Its id is above every id tried below, so revokeApiToken with B's ids cannot revoke it.
		for range 9 {
			var err error
			if _, aToken, err = s.CreateAPIToken(ctx, "A's integration", domain.RoleOwner, users[0].ID); err != nil {
				t.Fatal(err)
			}
		}
	})
	leaked := 0
	check := func(what, body string) {
		t.Helper()
		if strings.Contains(body, `"UNAUTHENTICATED"`) || strings.Contains(body, `"RATE_LIMITED"`) {
			t.Fatalf("%s: A's own credentials stopped working, the test proves nothing: %.200s", what, body)
		}
		if strings.Contains(body, marker) || strings.Contains(strings.ToLower(body), strings.ToLower(marker)) {
			leaked++
			t.Errorf("%s shows B's data: %.300s", what, body)
		}
	}
	gql := func(token, query string) string {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		_, body, _ := send(t, browser(t), "POST", srv.URL+"/acme/graphql", fmt.Sprintf(`{"query":%q}`, query), h)
		return body
	}

	// B's ids (1..8 covers every row B has; A has fewer) in every operation that takes one.
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour).Format(time.RFC3339)
	day := time.Now().Add(96 * time.Hour).Format(time.DateOnly)
	ops := 0
	for id := 1; id <= 8; id++ {
		for _, q := range []string{
			`{ booking(id: "%d") { id notes customer { name email } service { name } staff { name } events { type actor } } }`,
			`{ customer(id: "%d") { name email phone notes bookings(first: 10) { edges { node { notes } } } } }`,
			`{ service(id: "%d") { name description staff { name } } }`,
			`{ availability(serviceId: "%d", from: "` + day + `", to: "` + day + `") { date slots { start staff { name } } } }`,
			`mutation { confirmBooking(id: "%d") { id notes } }`,
			`mutation { completeBooking(id: "%d") { id notes } }`,
			`mutation { markNoShow(id: "%d") { id notes } }`,
			`mutation { reopenBooking(id: "%d") { id notes } }`,
			`mutation { cancelBookingAsBusiness(id: "%d", reason: "x") { id notes } }`,
			`mutation { moveBooking(id: "%d", start: "` + start + `") { id notes } }`,
			`mutation { updateService(id: "%d", input: {name: "A", durationMinutes: 30, priceAmount: 0, staffIds: []}) { name } }`,
			`mutation { archiveService(id: "%d") }`,
			`mutation { updateStaffMember(id: "%d", input: {name: "A"}, active: true) { name } }`,
			`mutation { setWorkingHours(staffId: "%d", hours: [{weekday: 1, intervals: ["09:00-10:00"]}]) { name } }`,
			`mutation { setDateOverride(staffId: "%d", date: "` + day + `", intervals: []) }`,
			`mutation { removeDateOverride(staffId: "%d", date: "` + day + `") }`,
			`mutation { addTimeOff(staffId: "%d", start: "` + start + `", end: "` + start + `") }`,
			`mutation { removeTimeOff(id: "%d") }`,
			`mutation { anonymiseCustomer(id: "%d") }`,
			`mutation { setUserRole(id: "%d", role: STAFF) { name email } }`,
			`mutation { removeUser(id: "%d") }`,
			`mutation { revokeApiToken(id: "%d") }`,
		} {
			query := fmt.Sprintf(q, id)
			check("GraphQL "+query, gql(aToken, query))
			ops++
		}
	}
	for _, q := range []string{`{ me { name } }`, `{ bookings(first: 100) { edges { node { notes customer { name } } } } }`,
		`{ customers(first: 100) { edges { node { name email } } } }`, `{ users { name email } }`, `{ apiTokens { name } }`,
		`{ resources { name } }`, `{ services { name } staff { name } business { name } }`} {
		check("GraphQL "+q, gql(aToken, q))
		ops++
	}
	// B's secrets on A: API token, manage links, session.
	if body := gql(bToken, `{ me { name } }`); !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("B's API token on A: %s", body)
	}
	for _, tok := range manage {
		check("bookingByToken", gql("", fmt.Sprintf(`{ bookingByToken(token: %q) { notes customer { name } } }`, tok)))
		check("cancelBooking", gql("", fmt.Sprintf(`mutation { cancelBooking(token: %q) { notes } }`, tok)))
		check("rescheduleBooking", gql("", fmt.Sprintf(`mutation { rescheduleBooking(token: %q, start: %q) { notes } }`, tok, start)))
		for _, path := range []string{"/acme/booking/" + tok, "/acme/booking/" + tok + "/booking.ics", "/acme/booking/" + tok + "/reschedule"} {
			status, body, _ := send(t, browser(t), "GET", srv.URL+path, "", nil)
			check("GET "+path, body)
			if status != http.StatusNotFound {
				t.Errorf("B's manage link on A: GET %s: %d", path, status)
			}
		}
		status, body, _ := send(t, browser(t), "POST", srv.URL+"/acme/booking/"+tok+"/cancel", "reason=x", form)
		check("cancel with B's link", body)
		if status != http.StatusNotFound {
			t.Errorf("B's manage link cancels on A: %d", status)
		}
		ops += 7
	}
	tnA, _, _ := m.Resolve(context.Background(), "acme")
	stolen := browser(t)
	u, _ := url.Parse(srv.URL)
	stolen.Jar.SetCookies(u, []*http.Cookie{{Name: "reserva_" + tnA.ID, Value: bSession, Path: "/"}})
	if status, body, _ := send(t, stolen, "GET", srv.URL+"/acme/admin", "", nil); status != http.StatusSeeOther {
		t.Errorf("B's session as A's cookie: %d %.200s", status, body)
	}

	// The dashboard, signed in to A, with B's ids in every route that takes one.
	owner := browser(t)
	signIn(t, srv.URL, owner, "acme", "owner@acme.example")
	for id := 1; id <= 8; id++ {
		for _, path := range []string{"/bookings/%d", "/customers/%d", "/services/%d", "/staff/%d"} {
			p := "/acme/admin" + fmt.Sprintf(path, id)
			_, body, _ := send(t, owner, "GET", srv.URL+p, "", nil)
			check("GET "+p, body)
			ops++
		}
		for _, path := range []string{"/bookings/%d/confirm", "/bookings/%d/complete", "/bookings/%d/no-show", "/bookings/%d/reopen", "/bookings/%d/cancel",
			"/bookings/%d/move", "/customers/%d/notes", "/customers/%d/anonymise", "/services/%d", "/staff/%d", "/staff/%d/overrides",
			"/staff/%d/timeoff", "/staff/1/timeoff/%d/delete", "/users/%d/role", "/users/%d/remove", "/tokens/%d/revoke"} {
			p := "/acme/admin" + fmt.Sprintf(path, id)
			vals := url.Values{"confirm": {"yes"}, "date": {day}, "time": {"10:00"}, "name": {"A"}, "role": {"staff"}, "notes": {"x"},
				"fromDate": {day}, "fromTime": {"10:00"}, "toDate": {day}, "toTime": {"11:00"}, "duration": {"30"}, "price": {"1"}, "capacity": {"1"},
				"bufferBefore": {"0"}, "bufferAfter": {"0"}, "staffIds": {"1"}}
			_, _, doc := post(t, owner, srv.URL+p, vals)
			html, _ := doc.Html()
			check("POST "+p, html)
			ops++
		}
	}
	for _, p := range []string{"/acme/admin", "/acme/admin/calendar?view=week", "/acme/admin/customers?q=c0", "/acme/admin/customers",
		"/acme/admin/services", "/acme/admin/staff", "/acme/admin/resources", "/acme/admin/users", "/acme/admin/tokens", "/acme/admin/settings", "/acme", "/acme/logo"} {
		_, body, _ := send(t, owner, "GET", srv.URL+p, "", nil)
		check("GET "+p, body)
		ops++
	}
	_, export, _ := send(t, owner, "GET", srv.URL+"/acme/admin/export.zip", "", nil)
	zr, err := zip.NewReader(strings.NewReader(export), int64(len(export)))
	if err != nil {
		t.Fatalf("A's export: %v", err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		check("A's export, "+f.Name, string(b))
		ops++
	}
	if after := digest(t, m, "other"); after != before {
		t.Errorf("B's data changed while A was attacked")
	}
	t.Logf("%d requests against A with B's ids, tokens and cookies; %d leaks", ops, leaked)
}
