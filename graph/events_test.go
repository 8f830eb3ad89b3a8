package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/domain"
)

// messages reads c's messages into a channel until the connection ends.
func messages(ctx context.Context, c *websocket.Conn) <-chan []byte {
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			ch <- b
		}
	}()
	return ch
}

// bookUntilHeard makes public bookings (a different time each) until msgs brings a message,
// and returns it: a subscription follows the events that come after it starts running, which
// its client cannot see.
func bookUntilHeard(t *testing.T, srv *httptest.Server, msgs <-chan []byte, email string) []byte {
	t.Helper()
	var avail struct {
		Availability []struct{ Slots []slot }
	}
	from := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if errs := do(t, srv, "acme", `query($f: Date!) { availability(serviceId: "1", from: $f, to: $f) { slots { start } } }`, map[string]any{"f": from}, &avail); errs != nil {
		t.Fatal(errs)
	}
	for i := 0; ; i++ {
		if 4*i >= len(avail.Availability[0].Slots) {
			t.Fatalf("no event after %d bookings", i)
		}
		if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
			map[string]any{"in": map[string]any{"serviceId": "1", "start": avail.Availability[0].Slots[4*i].Start,
				"customer": map[string]any{"name": "Live", "email": email}}}, nil); errs != nil {
			t.Fatal(errs)
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("the connection ended")
			}
			return m
		case <-time.After(time.Second):
		}
	}
}

// A dashboard subscribed to bookingEvents hears about a booking made on the public API.
func TestBookingEventsSubscription(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		// Anonymous connections are closed at once.
		c := wsDial(t, ctx, srv, "acme")
		wsInit(ctx, c, "")
		if code, _ := wsClosed(t, ctx, c); code != 4401 {
			t.Errorf("anonymous connection closed with %d", code)
		}
	})

	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("no ack: %v %v", ack, err)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { bookingEvents { type actor booking { id status customer { email } } } }`}}); err != nil {
		t.Fatal(err)
	}

	// A customer books on the public API.
	raw := bookUntilHeard(t, srv, messages(ctx, c), "live@example.com")
	var msg struct {
		Type    string
		Payload struct {
			Data struct {
				BookingEvents struct {
					Type, Actor string
					Booking     struct {
						Status   string
						Customer struct{ Email string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatal(err)
	}
	ev := msg.Payload.Data.BookingEvents
	if msg.Type != "next" || ev.Type != "created" || ev.Actor != "customer" || ev.Booking.Customer.Email != "live@example.com" {
		t.Errorf("event: %s", raw)
	}
}

// A live subscription ends when its token is revoked, and says why: an error with
// UNAUTHENTICATED (it ended with a bare complete, which clients take for a normal end and
// show nothing).
func TestSubscriptionEndsOnRevoke(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("no ack: %v %v", ack, err)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}}); err != nil {
		t.Fatal(err)
	}
	msgs := messages(ctx, c)
	bookUntilHeard(t, srv, msgs, "live@example.com") // the subscription runs
	// The owner revokes the staff token (id 2: the owner's token is 1).
	if errs := doAs(t, srv, "acme", tokens["acme"][domain.RoleOwner], `mutation { revokeApiToken(id: "2") }`, nil, nil); errs != nil {
		t.Fatal(errs)
	}
	for {
		raw, ok := <-msgs
		if !ok {
			t.Fatal("the connection ended without completing the subscription")
		}
		var kind struct{ Type string }
		if err := json.Unmarshal(raw, &kind); err != nil {
			t.Fatal(err)
		}
		if kind.Type == "next" { // events of bookings made before the revocation may come first
			continue
		}
		var msg struct {
			ID, Type string
			Payload  []gqlError
		}
		if err := json.Unmarshal(raw, &msg); err != nil {
			t.Fatalf("after revocation: %s: %v", raw, err)
		}
		if msg.Type != "error" || msg.ID != "1" || code(msg.Payload) != "UNAUTHENTICATED" ||
			!strings.Contains(msg.Payload[0].Message, "revoked") {
			t.Fatalf("after revocation: %s; want an error with UNAUTHENTICATED saying access was revoked", raw)
		}
		return
	}
}

// A subscription over plain HTTP is refused at once. gqlgen ran it and waited for its first
// event with no end, holding the business's turn: its other visitors got 503.
func TestSubscriptionOverHTTPRefused(t *testing.T) {
	srv := server(t)
	body := `{"query":"subscription { bookingEvents { type } }"}`
	for _, get := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var req *http.Request
		if get {
			req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/acme/graphql?query="+url.QueryEscape(`subscription { bookingEvents { type } }`), nil)
		} else {
			req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/acme/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+tokens["acme"][domain.RoleStaff])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %v: no answer: %v", get, err)
		}
		var r gqlResponse
		err = json.NewDecoder(res.Body).Decode(&r)
		_ = res.Body.Close()
		cancel()
		if err != nil || res.StatusCode != http.StatusUnprocessableEntity || code(r.Errors) != "BAD_REQUEST" ||
			!strings.Contains(r.Errors[0].Message, "websockets") {
			t.Errorf("GET %v: %d %+v %v", get, res.StatusCode, r, err)
		}
	}
	// The business still serves.
	if errs := do(t, srv, "acme", `{ business { name } }`, nil, nil); errs != nil {
		t.Error(errs)
	}
}
