package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/web"
)

type closed struct {
	code   websocket.StatusCode
	reason string
	err    error // not closed by the server with a close frame
}

func (c closed) String() string {
	if c.err != nil {
		return "no close frame: " + c.err.Error()
	}
	return fmt.Sprintf("%d %q", c.code, c.reason)
}

// closeOf reads c until it ends, and sends how on the returned channel (for tests that must
// do something else while the client reads, as a real client does).
func closeOf(ctx context.Context, c *websocket.Conn) <-chan closed {
	ch := make(chan closed, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					ch <- closed{code: ce.Code, reason: ce.Reason}
				} else {
					ch <- closed{err: err}
				}
				return
			}
		}
	}()
	return ch
}

// wsAuthed opens a connection to slug authenticated with token (in connection_init, or in an
// Authorization header when header is set) and waits for its ack.
func wsAuthed(t *testing.T, ctx context.Context, srv *httptest.Server, slug, token string, header bool) *websocket.Conn {
	t.Helper()
	opts := &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}
	if header {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
		token = ""
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/"+slug+"/graphql", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	wsInit(ctx, c, token)
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	return c
}

// wsQuery sends query over c as operation id and returns the message that answers it.
func wsQuery(t *testing.T, ctx context.Context, c *websocket.Conn, id, query string) wsAnswer {
	t.Helper()
	if err := wsjson.Write(ctx, c, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}}); err != nil {
		t.Fatal(err)
	}
	var m wsAnswer
	if err := wsjson.Read(ctx, c, &m); err != nil {
		t.Fatalf("answer to %s: %v", id, err)
	}
	return m
}

type wsAnswer struct {
	ID, Type string
	Payload  json.RawMessage
}

// An authenticated websocket held its business's lease for up to 30 minutes, so a restore or a
// deletion (Manager.Exclusive) failed after waiting 30 s while a dashboard tab was open. Now the
// socket is asked to let go: it closes with 1013 (clients retry after a wait) and releases its
// lease, the exclusive operation runs, and the client's next connection works.
func TestWebsocketGivesLeaseToExclusive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header bool
	}{{"InitToken", false}, {"AuthorizationHeader", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tn, _, err := manager.Resolve(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			staff := tokens["acme"][domain.RoleStaff]
			c := wsAuthed(t, ctx, srv, "acme", staff, tc.header)
			if n := manager.Leases(tn.ID); n != 1 {
				t.Fatalf("the socket holds %d leases; want 1", n)
			}
			end := closeOf(ctx, c)
			xctx, xcancel := context.WithTimeout(ctx, 10*time.Second) // below ExclusiveWait (30 s)
			err = manager.Exclusive(xctx, tn.ID, func() error { return nil })
			xcancel()
			if err != nil {
				t.Fatalf("exclusive (a restore) while an authenticated websocket is open: %v", err)
			}
			if got := <-end; got.err != nil || got.code != websocket.StatusTryAgainLater || !strings.Contains(got.reason, "reconnect") {
				t.Errorf("socket ended with %v; want 1013 asking to reconnect", got)
			}
			c2 := wsAuthed(t, ctx, srv, "acme", staff, tc.header)
			if m := wsQuery(t, ctx, c2, "q", `{ me { role } }`); m.Type != "next" || !strings.Contains(string(m.Payload), "STAFF") {
				t.Errorf("after reconnecting: %+v", m)
			}
		})
	}
}

// srv.Shutdown does not wait for hijacked connections, and did not tell them: an open websocket
// kept its lease and `reserva serve` exited with "close tenants: 1 still in use". Now Shutdown
// reaches it through the request's context (shutdown.Notify, as serve sets up): it closes with
// 1001 and releases its lease, and the tenants close cleanly.
func TestWebsocketShutdownGoingAway(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := wsAuthed(t, ctx, srv, "acme", tokens["acme"][domain.RoleStaff], false)
	// A subscription runs: it too must end.
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { type } }`}}); err != nil {
		t.Fatal(err)
	}
	end := closeOf(ctx, c)
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	select {
	case got := <-end:
		if got.err != nil || got.code != websocket.StatusGoingAway || !strings.Contains(got.reason, "shutting down") {
			t.Errorf("socket ended with %v; want 1001 saying the server is shutting down", got)
		}
	case <-rctx.Done():
		t.Fatal("the websocket was not closed by the server's shutdown")
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := manager.Close(cctx); err != nil {
		t.Errorf("close tenants after shutdown: %v", err)
	}
}

// The connection's lifetime ended through the reader's context too, and the websocket library
// drops a connection whose read context ends: clients sometimes saw 1006 instead of 1001. Each
// of many short-lived connections must end with the close handshake.
func TestWebsocketLifetimeCloses1001(t *testing.T) {
	srv := serverWith(t, testServer{opts: []graph.Option{graph.WithConnectionLifetime(30 * time.Millisecond)}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	staff := tokens["acme"][domain.RoleStaff]
	for i := range 20 {
		c := wsDial(t, ctx, srv, "acme")
		wsInit(ctx, c, staff)
		if got := <-closeOf(ctx, c); got.err != nil || got.code != websocket.StatusGoingAway {
			t.Fatalf("connection %d ended with %v; want 1001", i, got)
		}
	}
}

// Queries and mutations sent over a websocket skipped the business's fair share (the socket
// gives its request's turn back once upgraded): a client could run any number at once over
// sockets while HTTP requests of other businesses waited. Now each takes a turn as an HTTP
// request does: with the business's one turn held, it waits, and answers TENANT_UNAVAILABLE
// once the fair share's wait is over; with the turn free it runs.
func TestWebsocketOperationTakesFairShareTurn(t *testing.T) {
	entered, leave := make(chan struct{}), make(chan struct{})
	srv := serverWith(t, testServer{
		share: web.FairShare{N: 1, Wait: 300 * time.Millisecond},
		routes: func(mux *http.ServeMux) {
			mux.HandleFunc("/{slug}/hold", func(http.ResponseWriter, *http.Request) { // holds acme's only turn
				close(entered)
				<-leave
			})
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := wsAuthed(t, ctx, srv, "acme", tokens["acme"][domain.RoleStaff], false)

	held := make(chan error, 1)
	go func() {
		res, err := http.Get(srv.URL + "/acme/hold")
		if err == nil {
			_ = res.Body.Close()
		}
		held <- err
	}()
	<-entered
	m := wsQuery(t, ctx, c, "busy", `{ me { role } }`)
	if m.Type != "error" || !strings.Contains(string(m.Payload), "TENANT_UNAVAILABLE") {
		t.Errorf("query over the socket while the business's turn is held: %s %s; want an error TENANT_UNAVAILABLE", m.Type, m.Payload)
	}
	// Another business is not held up.
	if errs := do(t, srv, "other", `{ business { name } }`, nil, nil); errs != nil {
		t.Errorf("other business: %v", errs)
	}
	close(leave)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if m := wsQuery(t, ctx, c, "free", `{ me { role } }`); m.Type != "next" || !strings.Contains(string(m.Payload), "STAFF") {
		t.Errorf("query over the socket with the turn free: %s %s", m.Type, m.Payload)
	}
}
