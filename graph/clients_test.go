package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// nodeClients returns node's path when the standard clients of testdata/clients can run
// (`npm ci` there). Without them the test is skipped, except in CI (CI=true), where it fails.
func nodeClients(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("testdata", "clients", "node_modules", "graphql-ws"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("standard GraphQL clients unavailable: %v (install Node 20+, then npm ci in graph/testdata/clients)", err)
		}
		t.Skipf("standard GraphQL clients unavailable: %v (npm ci in graph/testdata/clients to run them)", err)
	}
	return node
}

type clientStep struct {
	Step       string
	Msg        string
	Types      int
	AckPayload any
	Event      struct {
		Type, Actor string
		Booking     struct{ Customer struct{ Email string } }
	}
	Code       any
	Reason     string
	Connecting int
}

// graphql-js and graphql-ws, as GraphiQL, Apollo and codegen use them, against a real server:
// getIntrospectionQuery() and buildClientSchema(); a graphql-ws subscription with an API token
// that receives a booking made here; a bad token closed with 4401 and not tried again.
func TestStandardClients(t *testing.T) {
	node := nodeClients(t)
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs", srv.URL+"/acme/graphql", tokens["acme"][domain.RoleStaff])
	cmd.Dir = filepath.Join("testdata", "clients")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := make(chan clientStep)
	go func() {
		defer close(steps)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var s clientStep
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				s = clientStep{Step: "fail", Msg: "not JSON: " + sc.Text()}
			}
			steps <- s
		}
	}()
	next := func() clientStep {
		t.Helper()
		s, ok := <-steps
		if !ok || s.Step == "fail" {
			t.Fatalf("client script: %+v (stderr: %s)", s, stderr.String())
		}
		return s
	}

	if s := next(); s.Step != "introspection" || s.Types < 20 {
		t.Fatalf("introspection: %+v", s)
	}
	if s := next(); s.Step != "subscribed" {
		t.Fatalf("want subscribed, got %+v", s)
	}
	var avail struct {
		Availability []struct{ Slots []slot }
	}
	day := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if errs := do(t, srv, "acme", `query($f: Date!) { availability(serviceId: "1", from: $f, to: $f) { slots { start } } }`, map[string]any{"f": day}, &avail); errs != nil {
		t.Fatal(errs)
	}
	book := func(i int) {
		if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
			map[string]any{"in": map[string]any{"serviceId": "1", "start": avail.Availability[0].Slots[4*i].Start,
				"customer": map[string]any{"name": "Node", "email": "node@example.com"}}}, nil); errs != nil {
			t.Fatal(errs)
		}
	}
	// Book once the client is connected, and again while no event came: the server starts
	// following events when the subscription runs, which the client cannot see.
	var event clientStep
	for i := 0; event.Step == ""; i++ {
		select {
		case s, ok := <-steps:
			switch {
			case !ok || s.Step == "fail":
				t.Fatalf("client script: %+v (stderr: %s)", s, stderr.String())
			case s.Step == "connected":
				if s.AckPayload != nil {
					t.Errorf("connection_ack payload %v; want none", s.AckPayload)
				}
				book(i)
			case s.Step == "event":
				event = s
			}
		case <-time.After(time.Second):
			if i > 6 {
				t.Fatal("no event after 6 bookings")
			}
			book(i)
		}
	}
	if event.Event.Type != "created" || event.Event.Actor != "customer" || event.Event.Booking.Customer.Email != "node@example.com" {
		t.Errorf("event: %+v", event.Event)
	}
	if s := next(); s.Step != "refused" || s.Code != float64(4401) || !strings.Contains(s.Reason, "Unauthorized") || s.Connecting != 1 {
		t.Errorf("bad token: %+v; want closed with 4401 after one attempt", s)
	}
	if s := next(); s.Step != "done" {
		t.Errorf("want done, got %+v", s)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("client script: %v (stderr: %s)", err, stderr.String())
	}
}
