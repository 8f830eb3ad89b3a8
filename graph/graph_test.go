package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/internal/shutdown"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// tokens holds, per tenant slug, an owner's and a staff user's API token secrets; manager is
// the last server's tenant manager.
var (
	tokens  map[string]map[domain.Role]string
	manager *tenancy.Manager
)

// server runs two tenants ("acme" and "other"), each with one staff member working 09–18 every
// day, a one-hour service, an owner and a staff user with API tokens, behind the real tenancy
// middleware and GraphQL handler.
func server(t testing.TB) *httptest.Server {
	t.Helper()
	return serverWith(t, testServer{})
}

// testServer changes server's defaults.
type testServer struct {
	share web.FairShare
	opts  []graph.Option
	// routes adds routes to the mux beside /{slug}/graphql (under the tenant middleware).
	routes func(mux *http.ServeMux)
}

// serverWith is server with the fair share, handler options and extra routes of c. Its
// Shutdown reaches websockets as `reserva serve`'s does (shutdown.Notify).
func serverWith(t testing.TB, c testServer) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	tokens = map[string]map[domain.Role]string{}
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	manager = m
	for _, slug := range []string{"acme", "other"} {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: "Biz " + slug, Timezone: "Europe/Madrid"})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		var h domain.WeeklyHours
		for d := range h {
			h[d] = []domain.Interval{{Start: 9 * 60, End: 18 * 60}}
		}
		ana, err := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Hours: h})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateService(ctx, domain.Service{Name: "Massage", Duration: time.Hour, Capacity: 1,
			Price: domain.Money{Amount: 4500, Currency: "EUR"}, StaffIDs: []int64{ana}}); err != nil {
			t.Fatal(err)
		}
		tokens[slug] = map[domain.Role]string{}
		for _, role := range []domain.Role{domain.RoleOwner, domain.RoleStaff} {
			u, err := s.CreateUser(ctx, domain.NewUser{Email: string(role) + "@" + slug + ".example", Name: "The " + string(role),
				Role: role, Password: "0123456789", StaffID: map[domain.Role]int64{domain.RoleStaff: ana}[role]})
			if err != nil {
				t.Fatal(err)
			}
			if _, tokens[slug][role], err = s.CreateAPIToken(ctx, "test "+string(role), role, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		l.Release()
	}
	mux := http.NewServeMux()
	mux.Handle("/{slug}/graphql", graph.NewHandler(quiet, append([]graph.Option{graph.WithWebsocketInitTimeout(wsInitTimeout)}, c.opts...)...))
	mux.Handle("/{slug}/graphql-gqlgen", graph.NewHandler(quiet, graph.WithGqlgenOnly()))
	if c.routes != nil {
		c.routes(mux)
	}
	srv := httptest.NewUnstartedServer(web.TenantMiddleware(m, c.share, mux, func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
		http.Error(w, http.StatusText(status), status)
	}))
	shutdown.Notify(srv.Config)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = m.Close(ctx)
		_ = reg.Close()
	})
	return srv
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// do posts a GraphQL document to tenant slug and decodes data into out (when not nil).
func do(t *testing.T, srv *httptest.Server, slug, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	return doAs(t, srv, slug, "", query, vars, out)
}

// doAs is do with "Authorization: Bearer token" (when token is not empty).
func doAs(t *testing.T, srv *httptest.Server, slug, token, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", srv.URL+"/"+slug+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var r gqlResponse
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("decode response (status %d): %v", res.StatusCode, err)
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatal(err)
		}
	}
	return r.Errors
}

func code(errs []gqlError) string {
	if len(errs) == 0 {
		return ""
	}
	c, _ := errs[0].Extensions["code"].(string)
	return c
}

type slot struct {
	Start, End string
	Staff      struct{ ID, Name string }
}

type booking struct {
	ID, Status, Start string
	Service           struct{ Name string }
	Staff             struct{ Name string }
	Customer          struct{ Name, Email string }
}

const bookingFields = `id status start service { name } staff { name } customer { name email }`

// The whole public flow: services → availability → createBooking → bookingByToken →
// rescheduleBooking → cancelBooking, with the errors a customer can run into on the way.
func TestPublicBookingFlow(t *testing.T) {
	srv := server(t)
	var data struct {
		Business struct{ Name, Timezone, Currency string }
		Services []struct {
			ID              string
			Name            string
			DurationMinutes int
			Price           struct {
				Amount   int
				Currency string
			}
		}
	}
	if errs := do(t, srv, "acme", `{ business { name timezone currency } services { id name durationMinutes price { amount currency } } }`, nil, &data); errs != nil {
		t.Fatal(errs)
	}
	if data.Business.Name != "Biz acme" || data.Business.Timezone != "Europe/Madrid" || len(data.Services) != 1 ||
		data.Services[0].DurationMinutes != 60 || data.Services[0].Price.Amount != 4500 {
		t.Fatalf("catalog: %+v", data)
	}
	svc := data.Services[0].ID

	madrid, _ := time.LoadLocation("Europe/Madrid")
	from := time.Now().In(madrid).AddDate(0, 0, 3).Format(time.DateOnly)
	to := time.Now().In(madrid).AddDate(0, 0, 5).Format(time.DateOnly)
	var avail struct {
		Availability []struct {
			Date, Status string
			Slots        []slot
		}
	}
	q := `query($s: ID!, $from: Date!, $to: Date!) { availability(serviceId: $s, from: $from, to: $to) { date status slots { start end staff { id name } } } }`
	if errs := do(t, srv, "acme", q, map[string]any{"s": svc, "from": from, "to": to}, &avail); errs != nil {
		t.Fatal(errs)
	}
	if len(avail.Availability) != 3 || avail.Availability[0].Date != from || avail.Availability[0].Status != "OPEN" {
		t.Fatalf("availability: %+v", avail)
	}
	slots := avail.Availability[0].Slots
	if len(slots) != 33 || !strings.HasSuffix(slots[0].Start, "T09:00:00+02:00") && !strings.HasSuffix(slots[0].Start, "T09:00:00+01:00") {
		t.Fatalf("%d slots, first %+v; want 33 from 09:00 with the Madrid offset", len(slots), slots[0])
	}

	create := `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken booking { ` + bookingFields + ` } } }`
	input := func(start, email string) map[string]any {
		return map[string]any{"in": map[string]any{"serviceId": svc, "start": start,
			"customer": map[string]any{"name": "Eva", "email": email}}}
	}
	var created struct {
		CreateBooking struct {
			ManageToken string
			Booking     booking
		}
	}
	if errs := do(t, srv, "acme", create, input(slots[4].Start, "eva@example.com"), &created); errs != nil {
		t.Fatal(errs)
	}
	b := created.CreateBooking.Booking
	token := created.CreateBooking.ManageToken
	if b.Status != "CONFIRMED" || b.Start != slots[4].Start || b.Staff.Name != "Ana" || b.Customer.Email != "eva@example.com" || len(token) < 40 {
		t.Fatalf("created %+v token %q", b, token)
	}

	t.Run("ErrSlotUnavailable", func(t *testing.T) {
		errs := do(t, srv, "acme", create, input(slots[4].Start, "other@example.com"), nil)
		if code(errs) != "SLOT_UNAVAILABLE" {
			t.Errorf("same slot twice: %+v", errs)
		}
	})
	t.Run("ErrBadUserInput", func(t *testing.T) {
		errs := do(t, srv, "acme", create, input(slots[8].Start, "not-an-email"), nil)
		if code(errs) != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "customer.email" {
			t.Errorf("bad email: %+v", errs)
		}
		errs = do(t, srv, "acme", q, map[string]any{"s": svc, "from": "2026-13-01", "to": to}, nil)
		if code(errs) != "BAD_USER_INPUT" || !strings.Contains(errs[0].Message, "2026-13-01") {
			t.Errorf("bad date: %+v", errs)
		}
		errs = do(t, srv, "acme", q, map[string]any{"s": svc, "from": to, "to": from}, nil)
		if code(errs) != "BAD_USER_INPUT" || errs[0].Extensions["field"] != "to" {
			t.Errorf("to before from: %+v", errs)
		}
		errs = do(t, srv, "acme", q, map[string]any{"s": "abc", "from": from, "to": to}, nil)
		if code(errs) != "BAD_USER_INPUT" {
			t.Errorf("bad id: %+v", errs)
		}
		errs = do(t, srv, "acme", q, map[string]any{"s": "999", "from": from, "to": to}, nil)
		if code(errs) != "NOT_FOUND" {
			t.Errorf("unknown service: %+v", errs)
		}
	})

	byToken := `query($t: String!) { bookingByToken(token: $t) { ` + bookingFields + ` } }`
	t.Run("ByToken", func(t *testing.T) {
		var found struct{ BookingByToken *booking }
		if errs := do(t, srv, "acme", byToken, map[string]any{"t": token}, &found); errs != nil || found.BookingByToken == nil || found.BookingByToken.ID != b.ID {
			t.Fatalf("bookingByToken: %+v %+v", found, errs)
		}
	})
	t.Run("OtherTenantSeesNothing", func(t *testing.T) {
		var other struct{ BookingByToken *booking }
		if errs := do(t, srv, "other", byToken, map[string]any{"t": token}, &other); errs != nil || other.BookingByToken != nil {
			t.Errorf("acme's token on another business: %+v %+v", other, errs)
		}
	})

	t.Run("Reschedule", func(t *testing.T) {
		var moved struct{ RescheduleBooking booking }
		if errs := do(t, srv, "acme", `mutation($t: String!, $s: DateTime!) { rescheduleBooking(token: $t, start: $s) { `+bookingFields+` } }`,
			map[string]any{"t": token, "s": slots[10].Start}, &moved); errs != nil {
			t.Fatal(errs)
		}
		if moved.RescheduleBooking.ID != b.ID || moved.RescheduleBooking.Start != slots[10].Start {
			t.Errorf("rescheduled: %+v", moved)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		cancel := `mutation($t: String!) { cancelBooking(token: $t, reason: "ill") { id status } }`
		var cancelled struct{ CancelBooking booking }
		if errs := do(t, srv, "acme", cancel, map[string]any{"t": token}, &cancelled); errs != nil || cancelled.CancelBooking.Status != "CANCELLED" {
			t.Fatalf("cancel: %+v %+v", cancelled, errs)
		}
		if errs := do(t, srv, "acme", cancel, map[string]any{"t": token}, nil); code(errs) != "CONFLICT" {
			t.Errorf("cancel twice: %+v", errs)
		}
	})
}

// graphql-js's getIntrospectionQuery (all options on, as GraphiQL sends it) is 15 levels deep
// through __Type.ofType, which the depth limit does not count; the answer describes the schema.
func TestStandardIntrospection(t *testing.T) {
	srv := server(t)
	q, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Schema struct {
			QueryType        struct{ Name string }
			SubscriptionType struct{ Name string }
			Types            []struct{ Name string }
		} `json:"__schema"`
	}
	if errs := do(t, srv, "acme", string(q), nil, &data); errs != nil {
		t.Fatalf("introspection refused: %+v", errs)
	}
	if data.Schema.QueryType.Name != "Query" || data.Schema.SubscriptionType.Name != "Subscription" || len(data.Schema.Types) < 20 {
		t.Errorf("introspection answered %+v", data)
	}
	// The field limit still holds for introspection: the same query aliased many times is refused.
	sel := string(q)[strings.Index(string(q), "__schema"):strings.Index(string(q), "fragment")]
	sel = strings.TrimSpace(sel)
	sel = sel[:strings.LastIndex(sel, "}")]
	var b strings.Builder
	b.WriteString("query Many {")
	for i := range 40 {
		fmt.Fprintf(&b, " s%d: %s", i, sel)
	}
	b.WriteString("}")
	b.WriteString(string(q)[strings.Index(string(q), "fragment"):])
	if errs := do(t, srv, "acme", b.String(), nil, nil); code(errs) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("40 aliased introspections: %+v", errs)
	}
}

func TestLimits(t *testing.T) {
	srv := server(t)
	// 11 levels of introspection other than ofType (which does not count); gqlparser's own
	// limit on nested fields/inputFields lists lets it through.
	deep := `{ __schema { directives { args { type { fields { args { type { inputFields { type { enumValues { name } } } } } } } } } } }`
	if errs := do(t, srv, "acme", deep, nil, nil); code(errs) != "DEPTH_LIMIT_EXCEEDED" {
		t.Errorf("deep query: %+v", errs)
	}
	unwraps := `{ __type(name: "Query") { fields { type { ` + strings.Repeat("ofType { ", 13) + "name" + strings.Repeat(" }", 13) + ` } } } }`
	if errs := do(t, srv, "acme", unwraps, nil, nil); code(errs) != "DEPTH_LIMIT_EXCEEDED" || !strings.Contains(errs[0].Message, "ofType 13 levels") {
		t.Errorf("13 nested ofType: %+v", errs)
	}
	wide := "{" + strings.Repeat(" services { id name description } ", 1) + strings.Repeat(" a: services { id } b: services { id } c: staff { id } ", 100) + "}"
	if errs := do(t, srv, "acme", wide, nil, nil); code(errs) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("costly query: %+v", errs)
	}
	if errs := do(t, srv, "acme", `{ nope }`, nil, nil); code(errs) != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("unknown field: %+v", errs)
	}
}
