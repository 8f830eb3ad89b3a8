package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph/model"
	"github.com/reserva/reserva/internal/gqlerr"
	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/tenancy"
)

// Limits on what one request may ask for.
const (
	MaxComplexity = 500
	MaxDepth      = 10
	MaxFields     = 2000 // fields in an operation once its fragments are expanded
	// MaxUnwraps bounds introspection's __Type.ofType chains, which MaxDepth does not count
	// (graphql-js's getIntrospectionQuery nests 9; no type has more than a few wrappers).
	MaxUnwraps = 12
	// MaxConnectionLifetime bounds a websocket connection (clients reconnect).
	MaxConnectionLifetime = 30 * time.Minute
	// WebsocketInitTimeout is how long a websocket may take to send connection_init.
	WebsocketInitTimeout = 10 * time.Second
)

// Option changes a default of NewHandler.
type Option func(*options)

type options struct {
	wsInitTimeout, wsLifetime time.Duration
	gqlgenOnly                bool // no fast path: every field through gqlgen (tests compare the two)
}

// WithWebsocketInitTimeout sets how long a websocket may take to send connection_init
// (default WebsocketInitTimeout).
func WithWebsocketInitTimeout(d time.Duration) Option {
	return func(o *options) { o.wsInitTimeout = d }
}

// WithConnectionLifetime sets how long a websocket connection lasts before the server closes it
// (default MaxConnectionLifetime).
func WithConnectionLifetime(d time.Duration) Option {
	return func(o *options) { o.wsLifetime = d }
}

// NewHandler returns the GraphQL HTTP handler. It must run below web's tenant middleware.
func NewHandler(log *slog.Logger, opts ...Option) http.Handler {
	o := options{wsInitTimeout: WebsocketInitTimeout, wsLifetime: MaxConnectionLifetime}
	for _, opt := range opts {
		opt(&o)
	}
	res := newResolver()
	cfg := Config{Resolvers: res}
	// A day of availability is real work: each costs 2, plus 20 per call, so one request can
	// ask for a few months but cannot multiply them with aliases.
	cfg.Complexity.Query.Availability = func(child int, _ int64, from, to model.Date, _ *int64) int {
		days := max(1, from.DaysUntil(to.Date)+1)
		return 20 + 2*days + child
	}
	srv := handler.New(NewExecutableSchema(cfg))
	present := presentError(log)
	srv.AddTransport(wsTransport{
		init:         res.initSocket,
		initTimeout:  o.wsInitTimeout,
		pingInterval: 30 * time.Second,
		writeTimeout: 10 * time.Second,
		readLimit:    domain.MaxBodyBytes,
		lifetime:     o.wsLifetime,
		present:      present,
		log:          log,
	})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{}) // a public API: clients may discover it, within the limits
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	// The shape limits run first: gqlgen's complexity walk expands fragments and is exponential
	// in nested spreads; depthLimit measures them with memoization and rejects such documents.
	srv.Use(depthLimit{MaxDepth, MaxFields})
	srv.Use(subscriptionsLive{})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	// The request's figures in /metrics are kept by kind: lookups apart from bookings.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil {
			metrics.SetKind(ctx, string(op.Operation))
		}
		return next(ctx)
	})
	if !o.gqlgenOnly {
		srv.AroundRootFields(fastAvailability)
	}
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql panic", "path", graphql.GetPath(ctx).String(), "panic", p)
		return fmt.Errorf("panic: %v", p)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store(r.Context())
		if err != nil {
			log.ErrorContext(r.Context(), "graphql", "err", err)
			gqlerr.Write(w, http.StatusInternalServerError, gqlerr.New("INTERNAL", "internal error"))
			return
		}
		if r.Method == http.MethodPost {
			// Read the body here, so that an oversized one gets a clear 413 instead of gqlgen's
			// generic read error.
			body, err := readBody(w, r)
			if err != nil {
				gqlerr.Write(w, http.StatusRequestEntityTooLarge, gqlerr.New("BAD_USER_INPUT",
					fmt.Sprintf("the request body is over %d bytes (or could not be read)", domain.MaxBodyBytes)))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			// gqlgen would answer any other type "transport not supported", without a code or a
			// hint; a browser's fetch with a string body sends text/plain unless told otherwise.
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				gqlerr.Write(w, http.StatusUnsupportedMediaType, gqlerr.New("BAD_REQUEST",
					`send the request as JSON, with Content-Type: application/json and a body like {"query": "..."}`))
				return
			}
		}
		r = withClient(r)
		r, ok := authenticate(w, r, s, res.authLimit)
		if !ok {
			return
		}
		websocket := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		ctx := r.Context()
		if websocket {
			// A live subscription is long and mostly idle: it gives back its business's turn
			// (each query or mutation sent over it takes one again).
			turn.End(r.Context())
			// A subscription lives past the server's request timeouts (pings keep it honest),
			// but not forever: it holds its tenant's handle, so the connection ends after its
			// lifetime (see wsSession.serve) and clients reconnect every while.
			rc := http.NewResponseController(w)
			// Unsupported only on writers that are not a connection's; the server's timeouts
			// then end the subscription early and the client reconnects.
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			ctx = context.WithValue(ctx, overWebsocketKey{}, true)
			if _, ok := viewerFrom(ctx); !ok {
				// Nobody has signed in yet: until an API token comes in connection_init, the
				// socket holds nothing of its business (a handle held would block deleting the
				// business, and near the handle cap delay other businesses).
				if l, ok := tenancy.FromContext(ctx); ok {
					l.Release()
					ctx = context.WithValue(ctx, anonymousSocketKey{}, l)
				}
				srv.ServeHTTP(w, r.WithContext(ctx))
				return
			}
		} else {
			w, r = withRetryAfter(w, r) // not on a websocket: its upgrade needs the bare writer
			ctx = r.Context()
		}
		srv.ServeHTTP(w, r.WithContext(withLoaders(ctx, s, websocket)))
	})
}

type (
	overWebsocketKey   struct{}
	anonymousSocketKey struct{} // the released lease of a websocket opened without a viewer
)

// initSocket authenticates a websocket's connection_init. A socket opened with a session or an
// Authorization header has its viewer already; any other must send an API token in the payload
// (browsers cannot set headers on websockets), and takes its business's handle only then.
// Refusals close with 4401 (no token, or a bad one) or 4429 (too many failed sign-ins):
// graphql-ws clients do not retry either, so a bad token is not tried again and again.
func (r *Resolver) initSocket(ctx context.Context, p map[string]any) (context.Context, func(), error) {
	if _, ok := viewerFrom(ctx); ok {
		return live(ctx), nil, nil
	}
	released, _ := ctx.Value(anonymousSocketKey{}).(*tenancy.Lease)
	auth := transport.InitPayload(p).Authorization()
	if auth == "" || released == nil {
		return ctx, nil, &wsRefusal{closeUnauthorized, "Unauthorized: sign in, or send an API token in the connection_init payload"}
	}
	if r.authLimit.Exhausted(clientOf(ctx)) {
		return ctx, nil, &wsRefusal{closeTooManyInits, "Too many failed sign-ins from this address: try again in a minute"}
	}
	actx, cancel := context.WithTimeout(ctx, WebsocketInitTimeout)
	defer cancel()
	l, err := released.Reacquire(actx)
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || tenancy.IsFault(err)) {
			// Passing (held for a migration, restore or deletion, or busy): graphql-ws clients
			// retry 1013 with a growing wait; they take 4500 as final and stop following.
			slog.WarnContext(ctx, "graphql websocket init: business unavailable", "err", err)
			return ctx, nil, &wsRefusal{closeTryAgain, "The business is busy or being updated: try again later"}
		}
		return ctx, nil, fmt.Errorf("take the business for an authenticated websocket: %w", err)
	}
	ctx = tenancy.WithLease(ctx, l)
	s := domain.NewCachedStore(l.DB, l.Location, time.Now)
	v, err := viewerForToken(ctx, s, strings.TrimPrefix(auth, "Bearer "))
	if err != nil {
		l.Release()
		if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			r.authLimit.Allow(clientOf(ctx))
			return ctx, nil, &wsRefusal{closeUnauthorized, truncate("Unauthorized: " + domain.ErrorMessage(err))}
		}
		return ctx, nil, err
	}
	return live(withLoaders(domain.WithViewer(ctx, v), s, true)), l.Release, nil
}

// subscriptionsLive refuses a subscription sent over plain HTTP at once. gqlgen's HTTP
// transports would run it and wait for its first event with no end, holding the business's
// turn of the fair share (its other visitors got 503 after 10 s for as long as the client
// stayed connected).
type subscriptionsLive struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = subscriptionsLive{}

func (subscriptionsLive) ExtensionName() string                   { return "SubscriptionsLive" }
func (subscriptionsLive) Validate(graphql.ExecutableSchema) error { return nil }

func (subscriptionsLive) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription || ctx.Value(overWebsocketKey{}) != nil {
		return nil
	}
	return &gqlerror.Error{
		Message:    "subscriptions are served over websockets (the graphql-transport-ws protocol) at this address, not over plain HTTP",
		Extensions: map[string]any{"code": "BAD_REQUEST"},
	}
}

// GraphQL error codes (extensions.code) of user-caused errors.
var codes = map[string]string{
	domain.EINVALID:         "BAD_USER_INPUT",
	domain.ENOTFOUND:        "NOT_FOUND",
	domain.ESLOTUNAVAILABLE: "SLOT_UNAVAILABLE",
	domain.ETOOLATE:         "TOO_LATE_TO_CHANGE",
	domain.ECONFLICT:        "CONFLICT",
	domain.EUNAUTHORIZED:    "UNAUTHENTICATED",
	domain.EFORBIDDEN:       "FORBIDDEN",
}

// inputNames are the schema's names of input fields that the domain calls otherwise: the schema
// says the unit (durationMinutes), the domain holds a time.Duration (duration). extensions.field
// names what the client sent, so that it can show the message beside that field.
var inputNames = map[string]string{
	"duration":     "durationMinutes",
	"price":        "priceAmount",
	"bufferBefore": "bufferBeforeMinutes",
	"bufferAfter":  "bufferAfterMinutes",
	"slotStep":     "slotStepMinutes",
	"minNotice":    "minNoticeMinutes",
	"horizon":      "horizonDays",
	"cancelCutoff": "cancelCutoffMinutes",
}

// presentError gives every user-caused error a code and a useful message; anything else is
// logged with its field path (and the request's tenant and id) and shown as "internal error".
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		path := graphql.GetPath(ctx)
		var derr *domain.Error
		if errors.As(err, &derr) {
			ext := map[string]any{"code": codes[derr.Code]}
			if derr.Field != "" {
				e := *derr
				if name, ok := inputNames[e.Field]; ok {
					e.Field = name
				}
				ext["field"] = e.Field
				derr = &e
			}
			return &gqlerror.Error{Message: derr.Error(), Path: path, Extensions: ext}
		}
		// gqlgen's own parse and validation errors (and our rate-limit errors) have no cause and
		// are written for clients. Anything with a cause is a resolver's error: gqlgen wraps those
		// too, and unless they are domain errors (above; our scalars return those) they are internal.
		if gerr := (*gqlerror.Error)(nil); errors.As(err, &gerr) && gerr.Err == nil {
			if _, ok := gerr.Extensions["code"]; !ok {
				return transportError(gerr)
			}
			return gerr
		}
		log.ErrorContext(ctx, "graphql resolver failed", "path", path.String(), "err", err)
		// A damaged database file marks its business failed; platform faults are worth a retry.
		if tenancy.Fault(ctx, err) || tenancy.IsFault(err) {
			setUnavailable(ctx)
			return &gqlerror.Error{Message: "this business is temporarily unavailable; try again in a minute", Path: path,
				Extensions: map[string]any{"code": "TENANT_UNAVAILABLE"}}
		}
		return &gqlerror.Error{Message: "internal error", Path: path, Extensions: map[string]any{"code": "INTERNAL"}}
	}
}

// transportError is gqlgen's answer to a request it could not read as GraphQL (a body that is
// not JSON, or JSON of the wrong shape), with the code every client error carries. gqlgen
// quotes the whole body back after " body:"; the decoder's reason is enough.
func transportError(gerr *gqlerror.Error) *gqlerror.Error {
	msg := gerr.Message
	if strings.HasPrefix(msg, "json request body could not be decoded") {
		if i := strings.Index(msg, " body:"); i >= 0 {
			msg = msg[:i]
		}
	}
	return &gqlerror.Error{Message: msg, Path: gerr.Path, Locations: gerr.Locations, Extensions: map[string]any{"code": "BAD_REQUEST"}}
}

// depthLimit rejects operations nested deeper than maxDepth selection levels, or with more than
// maxFields fields once their fragments are expanded. Fragments are measured once each, so a
// document of fragments spreading each other twice costs linear time here, not exponential.
type depthLimit struct{ maxDepth, maxFields int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

// An operation over the shape limits is refused before it runs, like any invalid operation:
// HTTP 422 (400 for application/graphql-response+json), as gqlgen answers its own validation
// and complexity errors.
func init() {
	errcode.RegisterErrorType("DEPTH_LIMIT_EXCEEDED", errcode.KindProtocol)
	errcode.RegisterErrorType("COMPLEXITY_LIMIT_EXCEEDED", errcode.KindProtocol)
	errcode.RegisterErrorType("BAD_REQUEST", errcode.KindProtocol)
}

func (depthLimit) ExtensionName() string                   { return "ShapeLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measurer{frags: oc.Doc.Fragments, memo: map[string]shape{}}
	sh := m.set(oc.Operation.SelectionSet, 0)
	switch {
	case sh.depth > d.maxDepth:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("operation is nested %d levels deep; the limit is %d", sh.depth, d.maxDepth),
			Extensions: map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"},
		}
	case sh.unwraps > MaxUnwraps:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("operation nests ofType %d levels deep; the limit is %d", sh.unwraps, MaxUnwraps),
			Extensions: map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"},
		}
	case sh.fields > d.maxFields:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("operation has %d fields once fragments are expanded; the limit is %d", sh.fields, d.maxFields),
			Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"},
		}
	}
	return nil
}

// unwrapsType reports whether f is introspection's __Type.ofType, which does not count towards
// the depth limit: graphql-js's getIntrospectionQuery (what GraphiQL, Apollo and code generators
// send) nests it nine times to unwrap types like [[Int!]!]!, which puts the whole query 15 levels
// deep. Each ofType is one object, not a list, so its chain cannot multiply a response; chains
// have a limit of their own (MaxUnwraps), every other introspection field still counts (and
// gqlparser bounds nested fields/inputFields lists), and every ofType still counts towards the
// field and complexity limits.
func unwrapsType(f *ast.Field) bool {
	return f.Name == "ofType" && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "__Type"
}

// shape is the depth and expanded field count of a selection set (counts saturate, so huge
// expansions cannot overflow).
type shape struct{ depth, unwraps, fields int }

type measurer struct {
	frags ast.FragmentDefinitionList
	memo  map[string]shape
}

const saturated = 1 << 40

func (m *measurer) set(set ast.SelectionSet, level int) shape {
	var out shape
	if level > 64 { // deeper than any limit; stops cycles, which validation rejects anyway
		return shape{depth: level, fields: saturated}
	}
	for _, sel := range set {
		var sh shape
		switch s := sel.(type) {
		case *ast.Field:
			sh = m.set(s.SelectionSet, level+1)
			if unwrapsType(s) {
				sh.unwraps++
			} else {
				sh.depth++
			}
			sh.fields++
		case *ast.InlineFragment:
			sh = m.set(s.SelectionSet, level+1)
		case *ast.FragmentSpread:
			var ok bool
			if sh, ok = m.memo[s.Name]; !ok {
				if f := m.frags.ForName(s.Name); f != nil {
					m.memo[s.Name] = shape{} // a cycle measures as empty; validation reports it
					sh = m.set(f.SelectionSet, level+1)
					m.memo[s.Name] = sh
				}
			}
		}
		out.depth = max(out.depth, sh.depth)
		out.unwraps = max(out.unwraps, sh.unwraps)
		out.fields = min(out.fields+sh.fields, saturated)
	}
	return out
}

// bufferedBody is a request body already read into memory (web's bufferBody): Buffered returns
// its unread bytes and why its reading stopped short (nil: nothing is missing).
type bufferedBody interface {
	Buffered() ([]byte, error)
}

// readBody returns r's whole body, at most domain.MaxBodyBytes: the bytes web has already
// buffered when it has (not a second copy of them), else read here.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if b, ok := r.Body.(bufferedBody); ok {
		body, err := b.Buffered()
		if err == nil && len(body) > domain.MaxBodyBytes {
			err = &http.MaxBytesError{Limit: domain.MaxBodyBytes}
		}
		return body, err
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, domain.MaxBodyBytes))
}
