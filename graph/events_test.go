package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/domain"
)

// A dashboard subscribed to bookingEvents hears about a booking made on the public API.
func TestBookingEventsSubscription(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/acme/graphql"
	dial := func(t *testing.T, token string) (*websocket.Conn, error) {
		t.Helper()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		payload := map[string]any{}
		if token != "" {
			payload["Authorization"] = "Bearer " + token
		}
		wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload})
		var ack map[string]any
		if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
			return c, fmt.Errorf("no ack: %v %v", ack, err)
		}
		return c, nil
	}
	subscribe := func(t *testing.T, token string) *websocket.Conn {
		t.Helper()
		c, err := dial(t, token)
		if err != nil {
			t.Fatal(err)
		}
		wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": `subscription { bookingEvents { type actor booking { id status customer { email } } } }`}})
		return c
	}

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		// Anonymous connections are closed at once: they would hold the tenant's handle.
		c, err := dial(t, "")
		defer c.CloseNow()
		if err == nil || !strings.Contains(err.Error(), "close") {
			t.Errorf("anonymous connection: %v", err)
		}
	})

	c := subscribe(t, tokens["acme"][domain.RoleStaff])
	defer c.CloseNow()
	time.Sleep(100 * time.Millisecond) // the subscription notes the newest event when it starts

	// A customer books on the public API.
	var avail struct {
		Availability []struct{ Slots []slot }
	}
	from := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if errs := do(t, srv, "acme", `query($f: Date!) { availability(serviceId: "1", from: $f, to: $f) { slots { start } } }`, map[string]any{"f": from}, &avail); errs != nil {
		t.Fatal(errs)
	}
	if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { manageToken } }`,
		map[string]any{"in": map[string]any{"serviceId": "1", "start": avail.Availability[0].Slots[0].Start,
			"customer": map[string]any{"name": "Live", "email": "live@example.com"}}}, nil); errs != nil {
		t.Fatal(errs)
	}

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
	if err := wsjson.Read(ctx, c, &msg); err != nil {
		t.Fatal(err)
	}
	ev := msg.Payload.Data.BookingEvents
	if msg.Type != "next" || ev.Type != "created" || ev.Actor != "customer" || ev.Booking.Customer.Email != "live@example.com" {
		raw, _ := json.Marshal(msg)
		t.Errorf("event: %s", raw)
	}
}

// A live subscription ends when its token is revoked.
func TestSubscriptionEndsOnRevoke(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/acme/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tokens["acme"][domain.RoleStaff]}})
	var ack map[string]any
	wsjson.Read(ctx, c, &ack)
	wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}})
	time.Sleep(50 * time.Millisecond)
	// The owner revokes the staff token (id 2: the owner's token is 1).
	if errs := doAs(t, srv, "acme", tokens["acme"][domain.RoleOwner], `mutation { revokeApiToken(id: "2") }`, nil, nil); errs != nil {
		t.Fatal(errs)
	}
	var msg struct{ Type string }
	if err := wsjson.Read(ctx, c, &msg); err != nil || msg.Type != "complete" {
		t.Errorf("after revocation: %+v %v; want the subscription completed", msg, err)
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
		res.Body.Close()
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
