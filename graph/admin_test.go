package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

func TestAuthAndRoles(t *testing.T) {
	srv := server(t)
	owner, staff := tokens["acme"][domain.RoleOwner], tokens["acme"][domain.RoleStaff]
	var me struct{ Me struct{ Name, Role string } }
	if errs := doAs(t, srv, "acme", owner, `{ me { name role } }`, nil, &me); errs != nil || me.Me.Role != "OWNER" {
		t.Fatalf("me as owner: %+v %+v", me, errs)
	}
	cases := []struct {
		name, slug, token, query, code string
	}{
		{"NoCredentials", "acme", "", `{ bookings { edges { cursor } } }`, "UNAUTHENTICATED"},
		{"BadToken", "acme", "rsv_not-a-real-token-at-all", `{ me { name } }`, "UNAUTHENTICATED"},
		{"OtherTenantsToken", "acme", tokens["other"][domain.RoleOwner], `{ me { name } }`, "UNAUTHENTICATED"},
		{"StaffCannotListUsers", "acme", staff, `{ users { id } }`, "FORBIDDEN"},
		{"StaffCannotMakeTokens", "acme", staff, `mutation { createApiToken(name: "x", role: OWNER) { secret } }`, "FORBIDDEN"},
		{"StaffCannotChangeSettings", "acme", staff, `mutation { updateSettings(input: { slotStepMinutes: 30 }) { name } }`, "FORBIDDEN"},
		{"StaffCannotEditOthersHours", "acme", staff, `mutation { setWorkingHours(staffId: "999", hours: []) { id } }`, "FORBIDDEN"},
		{"OwnerBadInput", "acme", owner, `mutation { updateSettings(input: { slotStepMinutes: 7 }) { name } }`, "BAD_USER_INPUT"},
		{"LastOwner", "acme", owner, `mutation { removeUser(id: "1") }`, "CONFLICT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if errs := doAs(t, srv, c.slug, c.token, c.query, nil, nil); code(errs) != c.code {
				t.Errorf("got %+v, want %s", errs, c.code)
			}
		})
	}
	t.Run("StaffEditsOwnHours", func(t *testing.T) {
		var out struct{ SetWorkingHours struct{ ID string } }
		errs := doAs(t, srv, "acme", staff, `mutation { setWorkingHours(staffId: "1", hours: [{weekday: 1, intervals: ["10:00-14:00"]}]) { id } }`, nil, &out)
		if errs != nil || out.SetWorkingHours.ID != "1" {
			t.Errorf("%+v %+v", out, errs)
		}
	})
	t.Run("RevokedTokenStops", func(t *testing.T) {
		var made struct {
			CreateAPIToken struct {
				Secret string
				Token  struct{ ID string }
			}
		}
		if errs := doAs(t, srv, "acme", owner, `mutation { createApiToken(name: "zap", role: STAFF) { secret token { id } } }`, nil, &made); errs != nil {
			t.Fatal(errs)
		}
		if errs := doAs(t, srv, "acme", made.CreateAPIToken.Secret, `{ me { role } }`, nil, nil); errs != nil {
			t.Fatalf("new token: %+v", errs)
		}
		if errs := doAs(t, srv, "acme", owner, `mutation($id: ID!) { revokeApiToken(id: $id) }`, map[string]any{"id": made.CreateAPIToken.Token.ID}, nil); errs != nil {
			t.Fatal(errs)
		}
		if errs := doAs(t, srv, "acme", made.CreateAPIToken.Secret, `{ me { role } }`, nil, nil); code(errs) != "UNAUTHENTICATED" {
			t.Errorf("revoked token: %+v", errs)
		}
	})
}

// Staff work through the day's bookings: book for a customer, page through the list, confirm,
// move, complete; and a customer's late cancellation is refused.
func TestDashboardBookings(t *testing.T) {
	srv := server(t)
	staff := tokens["acme"][domain.RoleStaff]
	madrid, _ := time.LoadLocation("Europe/Madrid")
	// Three on-the-hour starts between now and 24 hours from now (staff may ignore the notice).
	var starts []string
	for h := time.Now().In(madrid).Truncate(time.Hour).Add(time.Hour); len(starts) < 3; h = h.Add(time.Hour) {
		if h.Hour() >= 9 && h.Hour() <= 16 {
			starts = append(starts, h.Format(time.RFC3339))
		}
	}
	if first, _ := time.Parse(time.RFC3339, starts[0]); time.Until(first) > 23*time.Hour {
		t.Skip("no working hour within the next 23 hours from now")
	}
	create := `mutation($in: CreateBookingInput!) { createBookingForCustomer(input: $in) { manageToken booking { id status start } } }`
	var tokensOut []string
	for i, st := range starts {
		var out struct {
			CreateBookingForCustomer struct {
				ManageToken string
				Booking     booking
			}
		}
		errs := doAs(t, srv, "acme", staff, create, map[string]any{"in": map[string]any{"serviceId": "1", "start": st,
			"customer": map[string]any{"name": "Walk-in", "email": "walkin" + string(rune('a'+i)) + "@example.com"}}}, &out)
		if errs != nil {
			t.Fatalf("book for a customer at %s: %+v", st, errs)
		}
		tokensOut = append(tokensOut, out.CreateBookingForCustomer.ManageToken)
	}
	// Customers cannot cancel online within the 24-hour cutoff.
	if errs := do(t, srv, "acme", `mutation($t: String!) { cancelBooking(token: $t) { id } }`, map[string]any{"t": tokensOut[0]}, nil); code(errs) != "TOO_LATE_TO_CHANGE" {
		t.Errorf("late cancellation: %+v", errs)
	}

	list := `query($after: String) { bookings(first: 2, after: $after) { edges { cursor node { id start customer { email } } } pageInfo { hasNextPage endCursor } } }`
	type page struct {
		Bookings struct {
			Edges []struct {
				Cursor string
				Node   booking
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   string
			}
		}
	}
	var p1, p2 page
	if errs := doAs(t, srv, "acme", staff, list, nil, &p1); errs != nil || len(p1.Bookings.Edges) != 2 || !p1.Bookings.PageInfo.HasNextPage {
		t.Fatalf("page 1: %+v %+v", p1, errs)
	}
	if errs := doAs(t, srv, "acme", staff, list, map[string]any{"after": p1.Bookings.PageInfo.EndCursor}, &p2); errs != nil ||
		len(p2.Bookings.Edges) != 1 || p2.Bookings.PageInfo.HasNextPage || p2.Bookings.Edges[0].Node.Start != starts[2] {
		t.Fatalf("page 2: %+v %+v", p2, errs)
	}
	if errs := doAs(t, srv, "acme", staff, list, map[string]any{"after": "garbage!"}, nil); code(errs) != "BAD_USER_INPUT" {
		t.Errorf("bad cursor: %+v", errs)
	}

	id := p1.Bookings.Edges[0].Node.ID
	// A booking that has not started cannot be marked completed (nor a no-show) yet.
	if errs := doAs(t, srv, "acme", staff, `mutation($id: ID!) { completeBooking(id: $id) { id status } }`, map[string]any{"id": id}, nil); code(errs) != "CONFLICT" ||
		!strings.Contains(errs[0].Message, "once it has started") {
		t.Errorf("complete before the start: %+v", errs)
	}
	if errs := doAs(t, srv, "acme", staff, `mutation($id: ID!) { confirmBooking(id: $id) { id } }`, map[string]any{"id": id}, nil); code(errs) != "CONFLICT" {
		t.Errorf("confirm a confirmed booking: %+v", errs)
	}
	if errs := doAs(t, srv, "acme", staff, `mutation($id: ID!) { reopenBooking(id: $id) { id } }`, map[string]any{"id": id}, nil); code(errs) != "CONFLICT" ||
		!strings.Contains(errs[0].Message, "cannot be reopened") {
		t.Errorf("reopen a booking without an outcome: %+v", errs)
	}
	// Moving onto another booking is refused even for staff.
	if errs := doAs(t, srv, "acme", staff, `mutation($id: ID!, $s: DateTime!) { moveBooking(id: $id, start: $s) { id } }`,
		map[string]any{"id": p1.Bookings.Edges[1].Node.ID, "s": starts[2]}, nil); code(errs) != "SLOT_UNAVAILABLE" {
		t.Errorf("move onto another booking: %+v", errs)
	}
	// The other business sees none of it, even with its own valid token.
	var theirs page
	if errs := doAs(t, srv, "other", tokens["other"][domain.RoleOwner], list, nil, &theirs); errs != nil || len(theirs.Bookings.Edges) != 0 {
		t.Errorf("other tenant's list: %+v %+v", theirs, errs)
	}
}

func TestRateLimits(t *testing.T) {
	srv := server(t)
	create := `mutation { createBooking(input: { serviceId: "1", start: "2030-01-01T10:00:00Z", customer: { name: "Bot", email: "nope" } }) { manageToken } }`
	for i := range 10 {
		if errs := do(t, srv, "acme", create, nil, nil); code(errs) != "BAD_USER_INPUT" {
			t.Fatalf("attempt %d: %+v", i+1, errs)
		}
	}
	if errs := do(t, srv, "acme", create, nil, nil); code(errs) != "RATE_LIMITED" {
		t.Errorf("11th booking attempt in a row: %+v", errs)
	}
	// Another business's allowance is its own.
	if errs := do(t, srv, "other", create, nil, nil); code(errs) != "BAD_USER_INPUT" {
		t.Errorf("other tenant: %+v", errs)
	}

	for range 10 {
		doAs(t, srv, "acme", "rsv_guessing-guessing-guessing", `{ me { name } }`, nil, nil)
	}
	// After ten wrong tokens, even a right one waits: guessing gets slow.
	if errs := doAs(t, srv, "acme", tokens["acme"][domain.RoleOwner], `{ me { name } }`, nil, nil); code(errs) != "RATE_LIMITED" {
		t.Errorf("after 10 failed sign-ins: %+v", errs)
	}
}

// An owner sets up the catalog and schedules; availability follows.
func TestCatalogAndSchedules(t *testing.T) {
	srv := server(t)
	owner := tokens["acme"][domain.RoleOwner]
	var res struct{ CreateResource struct{ ID string } }
	if errs := doAs(t, srv, "acme", owner, `mutation { createResource(name: "Room 1") { id name } }`, nil, &res); errs != nil {
		t.Fatal(errs)
	}
	var staff struct{ CreateStaffMember struct{ ID string } }
	if errs := doAs(t, srv, "acme", owner, `mutation { createStaffMember(input: { name: "Bo" }) { id } }`, nil, &staff); errs != nil {
		t.Fatal(errs)
	}
	bo := staff.CreateStaffMember.ID
	hours := `mutation($id: ID!) { setWorkingHours(staffId: $id, hours: [` +
		`{weekday: 0, intervals: ["10:00-12:00"]}, {weekday: 1, intervals: ["10:00-12:00"]}, {weekday: 2, intervals: ["10:00-12:00"]},` +
		`{weekday: 3, intervals: ["10:00-12:00"]}, {weekday: 4, intervals: ["10:00-12:00"]}, {weekday: 5, intervals: ["10:00-12:00"]},` +
		`{weekday: 6, intervals: ["10:00-12:00"]}]) { id } }`
	if errs := doAs(t, srv, "acme", owner, hours, map[string]any{"id": bo}, nil); errs != nil {
		t.Fatal(errs)
	}
	var svc struct{ CreateService struct{ ID string } }
	if errs := doAs(t, srv, "acme", owner, `mutation($bo: ID!, $room: ID!) { createService(input: { name: "Sauna", durationMinutes: 60,
		priceAmount: 3000, staffIds: [$bo], resourceIds: [$room] }) { id price { amount currency } } }`,
		map[string]any{"bo": bo, "room": res.CreateResource.ID}, &svc); errs != nil {
		t.Fatal(errs)
	}
	day := time.Now().AddDate(0, 0, 5).Format(time.DateOnly)
	availability := func() (string, int) {
		var a struct {
			Availability []struct {
				Status string
				Slots  []slot
			}
		}
		if errs := do(t, srv, "acme", `query($s: ID!, $d: Date!) { availability(serviceId: $s, from: $d, to: $d) { status slots { start } } }`,
			map[string]any{"s": svc.CreateService.ID, "d": day}, &a); errs != nil {
			t.Fatal(errs)
		}
		return a.Availability[0].Status, len(a.Availability[0].Slots)
	}
	if status, n := availability(); status != "OPEN" || n != 5 {
		t.Errorf("10–12 in 15-minute steps: %s with %d slots, want OPEN with 5", status, n)
	}
	if errs := doAs(t, srv, "acme", owner, `mutation($id: ID!, $d: Date!) { setDateOverride(staffId: $id, date: $d, intervals: []) }`,
		map[string]any{"id": bo, "d": day}, nil); errs != nil {
		t.Fatal(errs)
	}
	if status, _ := availability(); status != "CLOSED" {
		t.Errorf("with a closed override: %s", status)
	}
	if errs := doAs(t, srv, "acme", owner, `mutation($id: ID!, $d: Date!) { removeDateOverride(staffId: $id, date: $d) }`,
		map[string]any{"id": bo, "d": day}, nil); errs != nil {
		t.Fatal(errs)
	}
	if status, _ := availability(); status != "OPEN" {
		t.Errorf("override removed: %s", status)
	}
	if errs := doAs(t, srv, "acme", owner, `mutation { setWorkingHours(staffId: "1", hours: [{weekday: 9, intervals: []}]) { id } }`, nil, nil); code(errs) != "BAD_USER_INPUT" {
		t.Errorf("weekday 9: %+v", errs)
	}
	if errs := doAs(t, srv, "acme", owner, `mutation { setWorkingHours(staffId: "1", hours: [{weekday: 1, intervals: ["9-5"]}]) { id } }`, nil, nil); code(errs) != "BAD_USER_INPUT" {
		t.Errorf("interval 9-5: %+v", errs)
	}
	var promoted struct{ SetUserRole struct{ Role string } }
	if errs := doAs(t, srv, "acme", owner, `mutation { setUserRole(id: "2", role: OWNER) { role } }`, nil, &promoted); errs != nil || promoted.SetUserRole.Role != "OWNER" {
		t.Errorf("promote: %+v %+v", promoted, errs)
	}
}

// Automatic persisted queries: a client sends a query's hash, and the query only when the server
// does not know it yet; plain GET queries work too.
func TestPersistedQueriesAndGET(t *testing.T) {
	srv := server(t)
	const query = `{ business { name } }`
	hash := "a8e88e8c7c2b3ea4e2d1b1e0b5d7b6e4f1d2c3b4a5968778695a4b3c2d1e0f1a" // not the real hash
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	post := func(body map[string]any) gqlResponse {
		b, _ := json.Marshal(body)
		res, err := http.Post(srv.URL+"/acme/graphql", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		var r gqlResponse
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := post(map[string]any{"extensions": ext}); len(r.Errors) == 0 || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Errorf("unknown hash: %+v", r)
	}
	sum := sha256.Sum256([]byte(query))
	ext["persistedQuery"].(map[string]any)["sha256Hash"] = hex.EncodeToString(sum[:])
	if r := post(map[string]any{"query": query, "extensions": ext}); len(r.Errors) != 0 {
		t.Errorf("register: %+v", r.Errors)
	}
	if r := post(map[string]any{"extensions": ext}); len(r.Errors) != 0 || !strings.Contains(string(r.Data), "Biz acme") {
		t.Errorf("by hash: %+v", r)
	}
	res, err := http.Get(srv.URL + "/acme/graphql?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if !strings.Contains(string(body), "Biz acme") {
		t.Errorf("GET: %s", body)
	}
}

// Connections follow Relay's PageInfo: hasPreviousPage and startCursor, and first: 0 (an empty
// page that tells whether there is anything).
func TestRelayPageInfo(t *testing.T) {
	srv := server(t)
	staff := tokens["acme"][domain.RoleStaff]
	var avail struct {
		Availability []struct{ Slots []slot }
	}
	day := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if errs := do(t, srv, "acme", `query($f: Date!) { availability(serviceId: "1", from: $f, to: $f) { slots { start } } }`, map[string]any{"f": day}, &avail); errs != nil {
		t.Fatal(errs)
	}
	for i := range 3 {
		if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
			map[string]any{"in": map[string]any{"serviceId": "1", "start": avail.Availability[0].Slots[4*i].Start,
				"customer": map[string]any{"name": "Page", "email": fmt.Sprintf("page%d@example.com", i)}}}, nil); errs != nil {
			t.Fatal(errs)
		}
	}
	type pageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	type conn struct {
		Edges    []struct{ Cursor string }
		PageInfo pageInfo
	}
	for _, field := range []string{"bookings", "customers"} {
		t.Run(field, func(t *testing.T) {
			q := `query($n: Int, $after: String) { c: ` + field + `(first: $n, after: $after) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`
			page := func(n int, after *string) conn {
				t.Helper()
				var out struct{ C conn }
				if errs := doAs(t, srv, "acme", staff, q, map[string]any{"n": n, "after": after}, &out); errs != nil {
					t.Fatalf("first %d after %v: %+v", n, after, errs)
				}
				return out.C
			}
			empty := page(0, nil)
			if len(empty.Edges) != 0 || !empty.PageInfo.HasNextPage || empty.PageInfo.HasPreviousPage || empty.PageInfo.StartCursor != nil || empty.PageInfo.EndCursor != nil {
				t.Errorf("first: 0: %+v", empty)
			}
			p1 := page(2, nil)
			if len(p1.Edges) != 2 || p1.PageInfo.HasPreviousPage || !p1.PageInfo.HasNextPage ||
				p1.PageInfo.StartCursor == nil || *p1.PageInfo.StartCursor != p1.Edges[0].Cursor || *p1.PageInfo.EndCursor != p1.Edges[1].Cursor {
				t.Errorf("page 1: %+v", p1)
			}
			p2 := page(2, p1.PageInfo.EndCursor)
			if len(p2.Edges) != 1 || !p2.PageInfo.HasPreviousPage || p2.PageInfo.HasNextPage || *p2.PageInfo.StartCursor != p2.Edges[0].Cursor {
				t.Errorf("page 2: %+v", p2)
			}
			for _, n := range []int{-1, 201} {
				var out struct{ C conn }
				if errs := doAs(t, srv, "acme", staff, q, map[string]any{"n": n}, &out); code(errs) != "BAD_USER_INPUT" || !strings.Contains(errs[0].Message, "between 0 and 200") {
					t.Errorf("first %d: %+v", n, errs)
				}
			}
		})
	}
}

// A staff member created after the catalog was read is there at once: the mutation answers with
// them, the staff list shows them and their hours can be set. The new row was committed but the
// kept catalog did not know it ("staff member N not found"), and a client that retried made a
// duplicate.
func TestCreateStaffMemberAfterCatalogRead(t *testing.T) {
	srv := server(t)
	owner := tokens["acme"][domain.RoleOwner]
	type member struct{ ID, Name string }
	staff := func() []member {
		t.Helper()
		var out struct{ Staff []member }
		if errs := do(t, srv, "acme", `{ staff { id name } }`, nil, &out); errs != nil {
			t.Fatal(errs)
		}
		return out.Staff
	}
	// The owner's token is used (its use recorded, a write), then the catalog read and kept.
	if errs := doAs(t, srv, "acme", owner, `{ me { name } }`, nil, nil); errs != nil {
		t.Fatal(errs)
	}
	if got := staff(); len(got) != 1 {
		t.Fatalf("staff before: %v", got)
	}
	var created struct{ CreateStaffMember member }
	if errs := doAs(t, srv, "acme", owner, `mutation { createStaffMember(input: { name: "Bo" }) { id name } }`, nil, &created); errs != nil {
		t.Fatalf("createStaffMember: %+v", errs)
	}
	bo := created.CreateStaffMember
	if bo.Name != "Bo" {
		t.Errorf("created %+v", bo)
	}
	if got := staff(); len(got) != 2 || !slices.Contains(got, bo) {
		t.Errorf("staff after: %v, want Ana and %+v", got, bo)
	}
	var set struct{ SetWorkingHours member }
	if errs := doAs(t, srv, "acme", owner, `mutation($id: ID!) { setWorkingHours(staffId: $id, hours: [{weekday: 1, intervals: ["10:00-12:00"]}]) { id name } }`,
		map[string]any{"id": bo.ID}, &set); errs != nil || set.SetWorkingHours != bo {
		t.Errorf("setWorkingHours on the new member: %+v %+v", set, errs)
	}
}

// A booking taken by phone needs no email (a name, with a phone or alone); the public
// createBooking still asks for one.
func TestBookingForCustomerWithoutEmail(t *testing.T) {
	srv := server(t)
	staff := tokens["acme"][domain.RoleStaff]
	madrid, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(madrid)).AddDays(3)
	create := `mutation($in: CreateBookingInput!) { createBookingForCustomer(input: $in) { booking { id customer { name email } } } }`
	for i, customer := range []map[string]any{{"name": "Pablo", "phone": "600 111 222"}, {"name": "Walk-in"}} {
		var out struct {
			CreateBookingForCustomer struct {
				Booking struct {
					ID       string
					Customer struct{ Name, Email string }
				}
			}
		}
		start := day.At((10+i)*60, madrid).Format(time.RFC3339)
		if errs := doAs(t, srv, "acme", staff, create, map[string]any{"in": map[string]any{"serviceId": "1", "start": start, "customer": customer}}, &out); errs != nil {
			t.Fatalf("book %v by phone: %+v", customer, errs)
		}
		if c := out.CreateBookingForCustomer.Booking.Customer; c.Name != customer["name"] || c.Email != "" {
			t.Errorf("booked for %+v, want %v", c, customer)
		}
	}
	errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
		map[string]any{"in": map[string]any{"serviceId": "1", "start": day.At(14*60, madrid).Format(time.RFC3339),
			"customer": map[string]any{"name": "Eva", "phone": "600 999 999"}}}, nil)
	if code(errs) != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "customer.email" {
		t.Errorf("public booking without email: %+v, want BAD_USER_INPUT on customer.email", errs)
	}
}
