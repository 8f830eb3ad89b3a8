package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// postRaw sends a GraphQL request to path and returns the status and the body as it came.
func postRaw(t testing.TB, srv *httptest.Server, path, query string, vars map[string]any) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	res, err := srv.Client().Post(srv.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, out
}

// availabilityBusiness adds to acme what the plain fixture lacks: staff with names that JSON
// must escape, a class with seats, days off and bookings. It returns the class's and a staff
// member's ids.
func availabilityBusiness(t *testing.T) (class, bea int64) {
	t.Helper()
	ctx := context.Background()
	l := leaseTenant(ctx, t, "acme")
	defer l.Release()
	s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	var err error
	var h domain.WeeklyHours
	for d := time.Monday; d <= time.Friday; d++ {
		h[d] = []domain.Interval{{Start: 8 * 60, End: 12 * 60}, {Start: 13 * 60, End: 19 * 60}}
	}
	if bea, err = s.CreateStaff(ctx, domain.Staff{Name: "Bea \"la\" Ñú\\ \t\u2028\x01\x7f <b>&", Hours: h}); err != nil {
		t.Fatal(err)
	}
	svc, err := s.Service(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	svc.StaffIDs = append(svc.StaffIDs, bea)
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if class, err = s.CreateService(ctx, domain.Service{Name: "Yoga", Duration: 90 * time.Minute, Capacity: 6,
		Price: domain.Money{Amount: 1500, Currency: "EUR"}, StaffIDs: []int64{bea}}); err != nil {
		t.Fatal(err)
	}
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: class, From: domain.DateOf(time.Now().AddDate(0, 0, 1)), To: domain.DateOf(time.Now().AddDate(0, 0, 7))})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range days {
		if len(d.Slots) > 0 {
			sl := d.Slots[len(d.Slots)/2]
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: class, Start: sl.Start, Seats: 1 + i%3,
				Customer: domain.Customer{Name: "C", Email: "c@example.com"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return class, bea
}

// The fast path writes what gqlgen writes, byte for byte, for every shape of query a client may
// send (aliases, fragments, @skip and @include, __typename, repeated fields), and leaves errors
// to gqlgen.
func TestFastAvailabilityMatchesGqlgen(t *testing.T) {
	srv := server(t)
	class, bea := availabilityBusiness(t)
	from := time.Now().AddDate(0, 0, -1).Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, 9).Format(time.DateOnly)
	vars := map[string]any{"s": "1", "f": from, "t": to}
	cases := map[string]struct {
		query string
		vars  map[string]any
	}{
		"bench": {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date status slots { start end staff { id name } seatsLeft } } }`, vars},
		"loadtest": {`query($d: Date!) { availability(serviceId: "1", from: $d, to: $d) { date status slots { start staff { id } } } }`,
			map[string]any{"d": time.Now().AddDate(0, 0, 2).Format(time.DateOnly)}},
		"class": {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { seatsLeft start } date } }`,
			map[string]any{"s": class, "f": from, "t": to}},
		"one staff member": {`query($s: ID!, $f: Date!, $t: Date!, $st: ID) { availability(serviceId: $s, from: $f, to: $t, staffId: $st) { date slots { staff { name } end } } }`,
			map[string]any{"s": "1", "f": from, "t": to, "st": bea}},
		"null staff": {`query($s: ID!, $f: Date!, $t: Date!, $st: ID) { availability(serviceId: $s, from: $f, to: $t, staffId: $st) { date status } }`,
			map[string]any{"s": "1", "f": from, "t": to, "st": nil}},
		"aliases and typenames": {`query($s: ID!, $f: Date!, $t: Date!) { __typename a: availability(serviceId: $s, from: $f, to: $t) { __typename d: date x: status
			slots { __typename when: start staff { __typename who: name id } } } b: availability(serviceId: $s, from: $t, to: $t) { date } }`, vars},
		"fragments and repeats": {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { ...D date slots { start ... on Slot { end } } } }
			fragment D on AvailabilityDay { status date slots { seatsLeft start staff { ...S } } } fragment S on StaffMember { id name id }`, vars},
		"skip and include": {`query($s: ID!, $f: Date!, $t: Date!, $y: Boolean!) { availability(serviceId: $s, from: $f, to: $t) { date @skip(if: $y) status @include(if: $y)
			slots { start @include(if: false) end staff @skip(if: $y) { id } } } }`, map[string]any{"s": "1", "f": from, "t": to, "y": true}},
		"literal arguments": {`{ availability(serviceId: 1, from: "` + from + `", to: "` + from + `") { date status slots { start } } }`, nil},
		"empty range":       {`{ availability(serviceId: "1", from: "2020-01-06", to: "2020-01-07") { date status slots { start } } }`, nil},
		"to before from":    {`{ availability(serviceId: "1", from: "2030-01-07", to: "2030-01-06") { date } }`, nil},
		"too many days":     {`{ availability(serviceId: "1", from: "2030-01-01", to: "2030-06-01") { date } }`, nil},
		"unknown service":   {`{ availability(serviceId: "99", from: "2030-01-01", to: "2030-01-02") { date } }`, nil},
		"bad date":          {`{ availability(serviceId: "1", from: "2030-02-30", to: "2030-03-02") { date } }`, nil},
		"bad id":            {`{ availability(serviceId: "x", from: "2030-01-01", to: "2030-01-02") { date } }`, nil},
		"staff who does not offer it": {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t, staffId: "1") { date } }`,
			map[string]any{"s": class, "f": from, "t": to}},
		"slots under two aliases, each its own staff fields": {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { staff { id } } s2: slots { staff { name } } } }`, vars},
		"directives on fragments, variable defaults":         {`query($s: ID!, $f: Date!, $t: Date!, $y: Boolean = true) { availability(serviceId: $s, from: $f, to: $t) { date @include(if: $y) ... on AvailabilityDay @include(if: false) { status } ...D @skip(if: true) slots { start } } } fragment D on AvailabilityDay { status }`, vars},
		"staff under two aliases":                            {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { a: staff { id } b: staff { __typename name } } } }`, vars},
		"introspection beside it":                            {`query($s: ID!, $f: Date!, $t: Date!) { __schema { queryType { name } } availability(serviceId: $s, from: $f, to: $t) { date } __type(name: "Slot") { name } }`, vars},
		"ids as numbers":                                     {`query($s: ID!, $f: Date!, $t: Date!, $st: ID) { availability(serviceId: $s, from: $f, to: $t, staffId: $st) { date slots { start staff { id name } } } }`, map[string]any{"s": 1, "f": from, "t": to, "st": bea}},
		"beside a field that needs a sign-in":                {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date } me { id } }`, vars},
		"inline fragment in staff":                           {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { staff { ... on StaffMember { id } } } } }`, vars},
		"several operations":                                 {`query Q($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date } } query R { __typename }`, vars},
		"over the complexity limit":                          {`{ availability(serviceId: "1", from: "2030-01-01", to: "2030-02-15") { date } b: availability(serviceId: "1", from: "2030-01-01", to: "2030-02-15") { date } c: availability(serviceId: "1", from: "2030-01-01", to: "2030-02-15") { date } d: availability(serviceId: "1", from: "2030-01-01", to: "2030-02-15") { date } e: availability(serviceId: "1", from: "2030-01-01", to: "2030-02-15") { date } }`, nil},
		"an unknown variable":                                {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date } }`, map[string]any{"s": "1", "f": from, "t": to, "extra": 1}},
		"an id that is not decimal":                          {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { start end } } }`, map[string]any{"s": "0x1", "f": from, "t": to}},
		"a year past 9999":                                   {`query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date } }`, map[string]any{"s": "1", "f": "10000-01-01", "t": "10000-01-02"}},
		"beside another field":                               {`query($s: ID!, $f: Date!, $t: Date!) { services { id name } availability(serviceId: $s, from: $f, to: $t) { date slots { start } } }`, vars},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			fastStatus, fast := postRaw(t, srv, "/acme/graphql", c.query, c.vars)
			slowStatus, slow := postRaw(t, srv, "/acme/graphql-gqlgen", c.query, c.vars)
			if fastStatus != slowStatus || !bytes.Equal(fast, slow) {
				t.Fatalf("fast path: %d %s\ngqlgen:    %d %s", fastStatus, fast, slowStatus, slow)
			}
			if name == "bench" && !bytes.Contains(fast, []byte(`\"la\" Ñú\\ \t`)) {
				t.Fatalf("the answer lacks the escaped staff name: %s", fast)
			}
		})
	}
}

// A 7-day availability over HTTP allocates at least five times less than through gqlgen's own
// execution (BenchmarkAvailabilityHTTP prints the figures).
func TestFastAvailabilityAllocations(t *testing.T) {
	srv := server(t)
	vars := map[string]any{"s": "1", "f": time.Now().AddDate(0, 0, 1).Format(time.DateOnly), "t": time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}
	query := `query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date status slots { start end staff { id name } seatsLeft } } }`
	allocs := func(path string) float64 {
		return testing.AllocsPerRun(20, func() {
			if status, body := postRaw(t, srv, path, query, vars); status != http.StatusOK || len(body) < 1000 {
				t.Fatalf("%s: status %d, %s", path, status, body)
			}
		})
	}
	fast, slow := allocs("/acme/graphql"), allocs("/acme/graphql-gqlgen")
	t.Logf("allocations per request: %.0f through the fast path, %.0f through gqlgen", fast, slow)
	if fast*5 > slow {
		t.Fatalf("%.0f allocations per request through the fast path, %.0f through gqlgen: want at least 5 times fewer", fast, slow)
	}
}

// Through the whole stack (the fast path over kept answers): the week's availability is asked
// for, a slot of it is booked, and the next answer, from either path, no longer offers it.
func TestAvailabilityAfterABooking(t *testing.T) {
	srv := server(t)
	vars := map[string]any{"f": time.Now().AddDate(0, 0, 1).Format(time.DateOnly), "t": time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}
	query := `query($f: Date!, $t: Date!) { availability(serviceId: "1", from: $f, to: $t) { slots { start } } }`
	starts := func() map[string]bool {
		var out struct {
			Availability []struct{ Slots []struct{ Start string } }
		}
		if errs := do(t, srv, "acme", query, vars, &out); errs != nil {
			t.Fatal(errs)
		}
		set := map[string]bool{}
		for _, d := range out.Availability {
			for _, s := range d.Slots {
				set[s.Start] = true
			}
		}
		return set
	}
	before := starts()
	var start string
	for s := range before {
		start = s
		break
	}
	if start == "" {
		t.Fatal("no free slot in the week")
	}
	if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
		map[string]any{"in": map[string]any{"serviceId": "1", "start": start, "customer": map[string]any{"name": "C", "email": "c@example.com"}}}, nil); errs != nil {
		t.Fatal(errs)
	}
	after := starts()
	if after[start] {
		t.Fatalf("%s is still offered after it was booked", start)
	}
	for s := range after {
		if !before[s] {
			t.Fatalf("%s is offered after the booking, not before", s)
		}
	}
	_, slow := postRaw(t, srv, "/acme/graphql-gqlgen", query, vars)
	_, fast := postRaw(t, srv, "/acme/graphql", query, vars)
	if !bytes.Equal(fast, slow) {
		t.Fatalf("after the booking the two paths differ:\nfast path: %s\ngqlgen:    %s", fast, slow)
	}
}
