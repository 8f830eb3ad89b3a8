package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/reserva/reserva/internal/gqlerr"
	"github.com/reserva/reserva/internal/shutdown"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/tenancy"
)

// The graphql-transport-ws protocol (github.com/enisdenjo/graphql-ws, PROTOCOL.md), spoken by
// graphql-ws, Apollo Client, urql and GraphiQL. gqlgen's own websocket transport closed every
// refusal with 1000 "terminated", which graphql-ws clients take for a normal end and reconnect
// at once, hundreds of times a second; it also echoed the init payload (an API token) back in
// connection_ack. This one closes with the protocol's codes, and a reason.
const wsSubprotocol = "graphql-transport-ws"

// Close codes of graphql-transport-ws. graphql-ws clients do not retry 4400, 4401, 4406, 4409
// and 4429; they retry 4403 and 4408 with a growing wait, and 1001 (the server going away) at
// once.
const (
	closeBadRequest       websocket.StatusCode = 4400
	closeUnauthorized     websocket.StatusCode = 4401
	closeForbidden        websocket.StatusCode = 4403
	closeSubprotocol      websocket.StatusCode = 4406
	closeInitTimeout      websocket.StatusCode = 4408
	closeSubscriberExists websocket.StatusCode = 4409
	closeTooManyInits     websocket.StatusCode = 4429
	closeInternal         websocket.StatusCode = 4500
	closeTryAgain                              = websocket.StatusTryAgainLater // 1013: the business is busy or held
)

// wsRefusal is why a connection_init was refused: the close code and reason sent.
type wsRefusal struct {
	code   websocket.StatusCode
	reason string
}

func (e *wsRefusal) Error() string { return fmt.Sprintf("%d: %s", e.code, e.reason) }

// wsInitFunc authenticates a connection from its connection_init payload. It returns the
// connection's context and what to release when the connection ends (may be nil); its error is
// a *wsRefusal for the client's faults.
type wsInitFunc func(ctx context.Context, payload map[string]any) (context.Context, func(), error)

type wsTransport struct {
	init         wsInitFunc
	initTimeout  time.Duration // connection_init must come within this
	pingInterval time.Duration // a websocket ping this often; a peer that does not answer is dropped
	writeTimeout time.Duration // a client that does not read for this long is dropped
	readLimit    int64
	lifetime     time.Duration // then the connection is closed with 1001 and the client reconnects
	present      graphql.ErrorPresenterFunc
	log          *slog.Logger
}

var _ graphql.Transport = wsTransport{}

func (t wsTransport) Supports(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// Accept refuses cross-origin upgrades (Origin must match Host), so a session cookie cannot be
	// used from another site.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol}})
	if err != nil {
		return // Accept has answered
	}
	c.SetReadLimit(t.readLimit)
	if c.Subprotocol() != wsSubprotocol {
		_ = c.Close(closeSubprotocol, "Subprotocol not acceptable: use "+wsSubprotocol) // we hang up either way
		return
	}
	s := &wsSession{t: t, c: c, exec: exec, headers: r.Header, active: map[string]*wsOp{}}
	s.serve(r.Context())
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsSession struct {
	t       wsTransport
	c       *websocket.Conn
	exec    graphql.GraphExecutor
	headers http.Header

	mu     sync.Mutex
	active map[string]*wsOp // operations by id
	ops    sync.WaitGroup
}

// wsOp is one running operation. The client may use its id again once it has completed it,
// while the operation is still ending: the operation compares itself, not its id, with what
// runs under that id.
type wsOp struct {
	cancel context.CancelFunc

	mu  sync.Mutex
	why error // why a subscription ended early (see endOperation), sent to the client
}

type wsOpKey struct{}

// endOperation records why the subscription running in ctx is about to end (its source closes
// its channel right after): the client then gets an error with the reason, for example
// UNAUTHENTICATED once the token or session it runs under is revoked, instead of a complete it
// would take for a normal end. Outside a websocket it does nothing.
func endOperation(ctx context.Context, err error) {
	if op, ok := ctx.Value(wsOpKey{}).(*wsOp); ok {
		op.mu.Lock()
		op.why = err
		op.mu.Unlock()
	}
}

func (op *wsOp) ended() error {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.why
}

// serve runs the connection until it closes, then waits for its operations to end.
//
// The server ends a connection with a close handshake when its lifetime is over or the server
// shuts down (1001: clients reconnect at once), and when an exclusive operation (a restore, a
// deletion) wants the lease it holds (1013: clients retry after a wait, and meet the business
// again once the operation is over).
func (s *wsSession) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	// The reader has a context of its own, ended only once the connection is closed: the
	// websocket library drops the connection without a close frame when a read's context ends,
	// so a reader that shared serve's context raced the close handshake, and clients saw 1006.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	release := func() {}
	defer func() {
		rcancel()
		cancel()
		s.ops.Wait() // no operation may outlive what init acquired for it
		release()
	}()

	// A socket that holds its business's lease gives it back when an exclusive operation wants
	// the business. (An anonymous one holds none until connection_init.)
	var evicted <-chan struct{}
	if l, ok := tenancy.FromContext(ctx); ok && ctx.Value(anonymousSocketKey{}) == nil {
		evicted = l.Done()
	}
	lifetime := time.NewTimer(s.t.lifetime)
	defer lifetime.Stop()

	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	go func(ctx context.Context) {
		for {
			typ, b, err := s.c.Read(ctx)
			if err == nil && typ != websocket.MessageText {
				err = &wsRefusal{closeBadRequest, "Invalid message received: not text"}
			}
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- b:
			case <-ctx.Done():
				return
			}
		}
	}(rctx)
	go s.keepAlive(ctx)

	initTimer := time.NewTimer(s.t.initTimeout)
	defer initTimer.Stop()
	inited, acked := false, false
	for {
		var b []byte
		select {
		case b = <-msgs:
		case err := <-readErr:
			if r := (*wsRefusal)(nil); errors.As(err, &r) {
				s.close(r.code, r.reason)
			} else {
				_ = s.c.CloseNow() // the read failed: nothing more to say to the peer
			}
			return
		case <-initTimer.C:
			if !acked {
				s.close(closeInitTimeout, "Connection initialisation timeout")
				return
			}
			continue
		case <-lifetime.C:
			s.close(websocket.StatusGoingAway, "the connection's time is up: reconnect")
			return
		case <-shutdown.Signal(ctx):
			s.close(websocket.StatusGoingAway, "the server is shutting down: reconnect")
			return
		case <-evicted:
			s.close(closeTryAgain, "the business is being updated: reconnect in a moment")
			return
		case <-ctx.Done():
			s.close(websocket.StatusGoingAway, "the server ends this connection: reconnect")
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			s.close(closeBadRequest, "Invalid message received: not JSON")
			return
		}
		switch m.Type {
		case "connection_init":
			if inited {
				s.close(closeTooManyInits, "Too many initialisation requests")
				return
			}
			inited = true
			var payload map[string]any
			if len(m.Payload) > 0 && string(m.Payload) != "null" {
				if err := json.Unmarshal(m.Payload, &payload); err != nil {
					s.close(closeBadRequest, "Invalid message received: connection_init payload is not an object")
					return
				}
			}
			cctx, rel, err := s.t.init(ctx, payload)
			if err != nil {
				var r *wsRefusal
				if !errors.As(err, &r) {
					s.t.log.ErrorContext(ctx, "graphql websocket init", "err", err)
					r = &wsRefusal{closeInternal, "Internal server error"}
				}
				s.close(r.code, r.reason)
				return
			}
			if rel != nil {
				release = rel
			}
			ctx = cctx
			if l, ok := tenancy.FromContext(ctx); ok {
				evicted = l.Done() // the lease init took, or the one the socket came with
			}
			// The acknowledgement carries no payload: echoing the init payload would send the
			// client's token back over the wire.
			if !s.send(ctx, wsMessage{Type: "connection_ack"}) {
				return
			}
			acked = true
			initTimer.Stop()
		case "ping":
			if !s.send(ctx, wsMessage{Type: "pong"}) {
				return
			}
		case "pong":
		case "subscribe":
			if !acked {
				s.close(closeUnauthorized, "Unauthorized: send connection_init and wait for connection_ack first")
				return
			}
			if m.ID == "" {
				s.close(closeBadRequest, "Invalid message received: subscribe needs an id")
				return
			}
			var params graphql.RawParams
			dec := json.NewDecoder(bytes.NewReader(m.Payload))
			dec.UseNumber()
			if err := dec.Decode(&params); err != nil || params.Query == "" && params.Extensions == nil {
				s.close(closeBadRequest, "Invalid message received: subscribe needs a payload with a query")
				return
			}
			if !s.start(ctx, m.ID, &params) {
				s.close(closeSubscriberExists, truncate("Subscriber for "+m.ID+" already exists"))
				return
			}
		case "complete":
			s.mu.Lock()
			op := s.active[m.ID]
			delete(s.active, m.ID) // the client stopped listening: nothing more for this id
			s.mu.Unlock()
			if op != nil {
				op.cancel()
			}
		default:
			s.close(closeBadRequest, truncate(fmt.Sprintf("Invalid message received: unknown type %q", m.Type)))
			return
		}
	}
}

// MaxSocketOperations bounds the operations one websocket runs at once: each live subscription
// is a goroutine that reads its business's database after every commit.
const MaxSocketOperations = 20

// start runs one operation (a subscription, or a query or mutation answered once). It reports
// false if id is in use.
func (s *wsSession) start(ctx context.Context, id string, params *graphql.RawParams) bool {
	s.mu.Lock()
	if _, ok := s.active[id]; ok {
		s.mu.Unlock()
		return false
	}
	if len(s.active) >= MaxSocketOperations {
		s.mu.Unlock()
		payload, _ := json.Marshal(gqlerror.List{{
			Message:    fmt.Sprintf("this connection already runs %d operations, the most it may: complete one first", MaxSocketOperations),
			Extensions: map[string]any{"code": "RATE_LIMITED"},
		}})
		s.send(ctx, wsMessage{ID: id, Type: "error", Payload: payload})
		return true
	}
	ctx, cancel := context.WithCancel(ctx)
	op := &wsOp{cancel: cancel}
	ctx = context.WithValue(ctx, wsOpKey{}, op)
	s.active[id] = op
	s.mu.Unlock()

	params.Headers = s.headers
	now := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: now, End: now}
	s.ops.Add(1)
	go func() {
		defer s.ops.Done()
		defer cancel()
		stillOurs := func() bool { // false once the client sent complete for id
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.active[id] == op
		}
		done := func(msg wsMessage) {
			s.mu.Lock()
			ok := s.active[id] == op
			if ok {
				delete(s.active, id)
			}
			s.mu.Unlock()
			if ok && ctx.Err() == nil {
				s.send(ctx, msg)
			}
		}
		ctx := graphql.StartOperationTrace(ctx)
		rc, errs := s.exec.CreateOperationContext(ctx, params)
		if errs != nil {
			resp := s.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
			payload, _ := json.Marshal(resp.Errors)
			done(wsMessage{ID: id, Type: "error", Payload: payload})
			return
		}
		ctx = graphql.WithOperationContext(ctx, rc)
		// A query or mutation that committed to its business (or the registry) is answered only
		// once the replica holds it (--replica-ack sync), as over HTTP (web's syncWrites): from
		// mark, taken before it runs, to its one response.
		var ackLease *tenancy.Lease
		var mark tenancy.WriteMark
		end := func() {}
		if rc.Operation != nil && rc.Operation.Operation != ast.Subscription {
			// A query or mutation takes its turn of the business's fair share, as over HTTP:
			// the socket gave its request's turn back when it was upgraded.
			var err error
			end, err = turn.Take(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return // the connection or the operation ended meanwhile
				}
				payload, _ := json.Marshal(gqlerror.List{{
					Message:    "this business is busy: try again in a moment",
					Extensions: map[string]any{"code": "TENANT_UNAVAILABLE"},
				}})
				done(wsMessage{ID: id, Type: "error", Payload: payload})
				return
			}
			defer end()
			if l, ok := tenancy.FromContext(ctx); ok {
				ackLease, mark = l, l.Mark()
			}
		}
		defer func() {
			if p := recover(); p != nil {
				err := rc.Recover(ctx, p)
				payload, _ := json.Marshal(gqlerror.List{{Message: "internal error", Extensions: map[string]any{"code": "INTERNAL"}}})
				s.t.log.ErrorContext(ctx, "graphql websocket operation", "err", err)
				done(wsMessage{ID: id, Type: "error", Payload: payload})
			}
		}()
		responses, ctx := s.exec.DispatchOperation(ctx, rc)
		for {
			resp := responses(ctx)
			if resp == nil || !stillOurs() {
				break
			}
			if ackLease != nil {
				// The operation's turn goes back while it waits (see AckWrites).
				if err := ackLease.AckWrites(ctx, mark, end); err != nil {
					if ctx.Err() != nil {
						return // the connection or the operation ended meanwhile
					}
					s.t.log.ErrorContext(ctx, "write not acknowledged: the replica did not confirm it",
						"tenant", ackLease.Tenant.Slug, "operation", rc.OperationName, "err", err)
					payload, _ := json.Marshal(gqlerror.List{gqlerr.OutcomeUnknown()})
					done(wsMessage{ID: id, Type: "error", Payload: payload})
					return
				}
				ackLease = nil // one response: acknowledged
			}
			payload, err := json.Marshal(resp)
			if err != nil {
				panic(err)
			}
			if !s.send(ctx, wsMessage{ID: id, Type: "next", Payload: payload}) {
				return
			}
		}
		if why := op.ended(); why != nil {
			payload, _ := json.Marshal(gqlerror.List{s.t.present(ctx, why)})
			done(wsMessage{ID: id, Type: "error", Payload: payload})
			return
		}
		done(wsMessage{ID: id, Type: "complete"})
	}()
	return true
}

// send writes one message; a client that does not take it within the write timeout is
// dropped. It reports whether the message went.
func (s *wsSession) send(ctx context.Context, m wsMessage) bool {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.t.writeTimeout)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, b); err != nil {
		_ = s.c.CloseNow() // the write failed: the connection is dropped
		return false
	}
	return true
}

// keepAlive pings the peer (a websocket ping, which browsers answer by themselves) and drops it
// when it stops answering, so a vanished client does not hold the tenant's handle.
func (s *wsSession) keepAlive(ctx context.Context) {
	t := time.NewTicker(s.t.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.t.pingInterval)
		err := s.c.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			_ = s.c.CloseNow() // the peer stopped answering
			return
		}
	}
}

// close ends the connection with code and reason (and the close handshake, bounded by the
// websocket library).
func (s *wsSession) close(code websocket.StatusCode, reason string) {
	_ = s.c.Close(code, truncate(reason)) // a peer that does not finish the handshake is dropped anyway
}

// truncate keeps a close reason within the 123 bytes a close frame allows, cut between
// characters: a reason must be valid UTF-8, and clients (browsers, the ws package) fail the
// connection on one that is not, so the close code would never reach them.
func truncate(reason string) string {
	if len(reason) <= 123 {
		return reason
	}
	cut := 120
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return strings.ToValidUTF8(reason[:cut], "") + "..."
}
