package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
)

// wsInitTimeout is the test server's connection_init timeout.
const wsInitTimeout = 2 * time.Second

// wsDial opens a graphql-transport-ws connection to tenant slug.
func wsDial(t *testing.T, ctx context.Context, srv *httptest.Server, slug string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/"+slug+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// wsClosed reads until the server closes c and returns the close code and reason.
func wsClosed(t *testing.T, ctx context.Context, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err == nil {
			continue // a message before the close (none expected, but allowed)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v (not closed by the server; last message %s)", err, b)
		}
		return ce.Code, ce.Reason
	}
}

func wsInit(ctx context.Context, c *websocket.Conn, token string) {
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	_ = wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload}) // a failed write shows as no ack
}

// The graphql-transport-ws protocol's refusals close with its codes and a reason (gqlgen closed
// them all with 1000 "terminated", which graphql-ws clients retry at once, forever).
func TestWebsocketCloseCodes(t *testing.T) {
	srv := server(t)
	staff := tokens["acme"][domain.RoleStaff]
	subscribe := func(id string) map[string]any {
		return map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}}
	}
	for _, tc := range []struct {
		name   string
		send   func(ctx context.Context, c *websocket.Conn)
		code   websocket.StatusCode
		reason string
	}{
		{"ErrNoToken", func(ctx context.Context, c *websocket.Conn) { wsInit(ctx, c, "") }, 4401, "API token"},
		{"ErrBadToken", func(ctx context.Context, c *websocket.Conn) { wsInit(ctx, c, "nope") }, 4401, "Unauthorized"},
		{"ErrSubscribeBeforeInit", func(ctx context.Context, c *websocket.Conn) { _ = wsjson.Write(ctx, c, subscribe("1")) }, 4401, "connection_init"},
		{"ErrTwoInits", func(ctx context.Context, c *websocket.Conn) {
			wsInit(ctx, c, staff)
			wsInit(ctx, c, staff)
		}, 4429, "Too many initialisation requests"},
		{"ErrSubscriberExists", func(ctx context.Context, c *websocket.Conn) {
			wsInit(ctx, c, staff)
			if err := wsjson.Write(ctx, c, subscribe("1")); err != nil {
				t.Fatal(err)
			}
			if err := wsjson.Write(ctx, c, subscribe("1")); err != nil {
				t.Fatal(err)
			}
		}, 4409, "Subscriber for 1 already exists"},
		{"ErrNotJSON", func(ctx context.Context, c *websocket.Conn) { _ = c.Write(ctx, websocket.MessageText, []byte("{")) }, 4400, "Invalid message"},
		{"ErrUnknownType", func(ctx context.Context, c *websocket.Conn) {
			if err := wsjson.Write(ctx, c, map[string]any{"type": "start"}); err != nil {
				t.Fatal(err)
			}
		}, 4400, "unknown type"},
		{"ErrInitTimeout", func(context.Context, *websocket.Conn) {}, 4408, "Connection initialisation timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := wsDial(t, ctx, srv, "acme")
			tc.send(ctx, c)
			code, reason := wsClosed(t, ctx, c)
			if code != tc.code || !strings.Contains(reason, tc.reason) {
				t.Errorf("closed with %d %q; want %d with %q", code, reason, tc.code, tc.reason)
			}
		})
	}
}

// connection_ack carries no payload: it echoed the init payload, API token included.
func TestWebsocketAckKeepsTokenToItself(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsDial(t, ctx, srv, "acme")
	token := tokens["acme"][domain.RoleStaff]
	wsInit(ctx, c, token)
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ack map[string]json.RawMessage
	if err := json.Unmarshal(b, &ack); err != nil {
		t.Fatal(err)
	}
	if string(ack["type"]) != `"connection_ack"` || ack["payload"] != nil || strings.Contains(string(b), token) {
		t.Errorf("ack: %s", b)
	}
}

// A websocket that has not authenticated holds nothing of its business: deleting the business
// (which waits for every lease) goes ahead while it is open. An authenticated one holds a lease.
func TestAnonymousWebsocketHoldsNoHandle(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tn, _, err := manager.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	anon := wsDial(t, ctx, srv, "acme") // never sends connection_init
	_ = anon
	if n := manager.Leases(tn.ID); n != 0 {
		t.Errorf("an anonymous websocket holds %d leases", n)
	}
	xctx, xcancel := context.WithTimeout(ctx, time.Second)
	err = manager.Exclusive(xctx, tn.ID, func() error { return nil })
	xcancel()
	if err != nil {
		t.Errorf("exclusive use (as a deletion) while an anonymous websocket is open: %v", err)
	}

	authed := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, authed, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, authed, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	if n := manager.Leases(tn.ID); n != 1 {
		t.Errorf("an authenticated websocket holds %d leases; want 1", n)
	}
	// And it works on the lease it took.
	if err := wsjson.Write(ctx, authed, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": `{ me { role } }`}}); err != nil {
		t.Fatal(err)
	}
	var next struct {
		Type    string
		Payload struct {
			Data struct{ Me struct{ Role string } }
		}
	}
	if err := wsjson.Read(ctx, authed, &next); err != nil || next.Type != "next" || next.Payload.Data.Me.Role != "STAFF" {
		t.Errorf("query over the authenticated socket: %+v %v", next, err)
	}
}

// A client of the older subscriptions-transport-ws protocol (subprotocol graphql-ws) is told
// that its protocol is not spoken here.
func TestWebsocketOtherSubprotocol(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/acme/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CloseNow() }()
	if code, reason := wsClosed(t, ctx, c); code != 4406 || !strings.Contains(reason, "graphql-transport-ws") {
		t.Errorf("closed with %d %q; want 4406 naming graphql-transport-ws", code, reason)
	}
}

// One connection runs at most MaxSocketOperations operations at once; a further subscribe gets
// an error (RATE_LIMITED) and the connection stays open.
func TestWebsocketOperationLimit(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	for i := range graph.MaxSocketOperations + 1 {
		if err := wsjson.Write(ctx, c, map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}}); err != nil {
			t.Fatal(err)
		}
	}
	var msg struct {
		ID, Type string
		Payload  []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := wsjson.Read(ctx, c, &msg); err != nil || msg.Type != "error" || msg.ID != fmt.Sprint(graph.MaxSocketOperations) ||
		len(msg.Payload) != 1 || msg.Payload[0].Extensions.Code != "RATE_LIMITED" {
		t.Fatalf("subscription %d: %+v %v", graph.MaxSocketOperations+1, msg, err)
	}
	// Completing one makes room; the connection still answers.
	if err := wsjson.Write(ctx, c, map[string]any{"id": "0", "type": "complete"}); err != nil {
		t.Fatal(err)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": `{ me { role } }`}}); err != nil {
		t.Fatal(err)
	}
	var next struct {
		ID, Type string
		Payload  json.RawMessage
	}
	if err := wsjson.Read(ctx, c, &next); err != nil || next.ID != "q" || next.Type != "next" || !strings.Contains(string(next.Payload), "STAFF") {
		t.Errorf("after completing one: %+v %v", next, err)
	}
}

// An id may be used again once the client completed it (graphql-transport-ws): the operation
// that ended must not take the new one's place with it. The old operation's end removed
// whatever ran under its id, so a subscription that reused an id heard nothing, ever.
func TestWebsocketReusedIDAfterComplete(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	subscribe := func(id string) {
		_ = wsjson.Write(ctx, c, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}})
	}
	subscribe("1")
	_ = wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "complete"})
	subscribe("1") // the same id again, at once
	msgs := messages(ctx, c)
	var first struct{ ID, Type string }
	if err := json.Unmarshal(bookUntilHeard(t, srv, msgs, "reuse@example.com"), &first); err != nil {
		t.Fatal(err)
	}
	if first.ID != "1" || first.Type != "next" {
		t.Errorf("first message %+v; want the event for the subscription that reused id 1", first)
	}
}

// A close reason is at most 123 bytes of UTF-8 (RFC 6455): one that quotes a long id of
// non-ASCII letters is shortened between characters, not inside one (browsers and the ws
// package fail the connection on invalid UTF-8, and the client never sees 4409).
func TestWebsocketCloseReasonValidUTF8(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	id := strings.Repeat("é", 100)
	for range 2 {
		_ = wsjson.Write(ctx, c, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}})
	}
	code, reason := wsClosed(t, ctx, c)
	if code != 4409 || !utf8.ValidString(reason) || len(reason) > 123 || !strings.HasPrefix(reason, "Subscriber for é") {
		t.Errorf("closed with %d %q (%d bytes, valid UTF-8 %v); want 4409, valid UTF-8 of at most 123 bytes",
			code, reason, len(reason), utf8.ValidString(reason))
	}
}

// A socket that cannot have its business now (held for a migration, restore or deletion, or
// too busy) is told to come back (1013, which graphql-ws clients retry with a growing wait),
// not 4500, which they take as final: a live dashboard stopped following bookings for good
// after one busy moment.
func TestWebsocketBusinessBusyTryAgain(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn, _, err := manager.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	c := wsDial(t, ctx, srv, "acme") // anonymous until connection_init: it holds no lease
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- manager.Exclusive(ctx, tn.ID, func() error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	code, reason := wsClosed(t, ctx, c)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code != websocket.StatusTryAgainLater || !strings.Contains(reason, "try again") {
		t.Errorf("closed with %d %q; want 1013, saying to try again", code, reason)
	}
}
