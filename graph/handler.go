package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/tenancy"
)

// Limits on what one request may ask for.
const (
	MaxComplexity = 500
	MaxDepth      = 10
	MaxFields     = 2000 // fields in an operation once its fragments are expanded
	// MaxConnectionLifetime bounds a websocket connection (clients reconnect).
	MaxConnectionLifetime = 30 * time.Minute
	MaxBodyBytes          = 1 << 20
)

// NewHandler returns the GraphQL HTTP handler. It must run below the tenancy middleware.
func NewHandler(log *slog.Logger) http.Handler {
	res := newResolver()
	cfg := Config{Resolvers: res}
	// A day of availability is real work: each costs 2, plus 20 per call, so one request can
	// ask for a few months but cannot multiply them with aliases.
	cfg.Complexity.Query.Availability = func(child int, _ int64, from, to model.Date, _ *int64) int {
		days := max(1, from.DaysUntil(to.Date)+1)
		return 20 + 2*days + child
	}
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second, // graphql-ws
		PingPongInterval:      30 * time.Second, // graphql-transport-ws: a silent peer is dropped
		InitTimeout:           10 * time.Second,
		// Only signed-in users and API tokens may hold a connection (it holds its tenant's
		// handle). Browsers cannot set headers on websockets: the token may come in the init
		// payload. (The websocket library refuses cross-origin upgrades, so cookies cannot be
		// abused from other sites.)
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if _, ok := viewerFrom(ctx); ok {
				return live(ctx), &p, nil
			}
			if p.Authorization() == "" {
				return ctx, nil, domain.Errorf(domain.EUNAUTHORIZED, "sign in, or send an API token in the connection_init payload")
			}
			if res.authLimit.Exhausted(clientOf(ctx)) {
				return ctx, nil, rateLimited("failed sign-ins")
			}
			v, err := viewerForToken(ctx, loadersFrom(ctx).store, strings.TrimPrefix(p.Authorization(), "Bearer "))
			if err != nil {
				res.authLimit.Allow(clientOf(ctx))
				return ctx, nil, err
			}
			return live(domain.WithViewer(ctx, v)), &p, nil
		},
	})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{}) // a public API: clients may discover it, within the limits
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	// The shape limits run first: gqlgen's complexity walk expands fragments and is exponential
	// in nested spreads; depthLimit measures them with memoization and rejects such documents.
	srv.Use(depthLimit{MaxDepth, MaxFields})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	// The request's figures in /metrics are kept by kind: lookups apart from bookings.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil {
			metrics.SetKind(ctx, string(op.Operation))
		}
		return next(ctx)
	})
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql panic", "path", graphql.GetPath(ctx).String(), "panic", p)
		return fmt.Errorf("panic: %v", p)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store(r.Context())
		if err != nil {
			log.ErrorContext(r.Context(), "graphql", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodPost {
			// Read the body here, so that an oversized one gets a clear 413 instead of gqlgen's
			// generic read error.
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				writeError(w, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT",
					fmt.Sprintf("the request body is over %d bytes (or could not be read)", MaxBodyBytes))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		r = withClient(r)
		r, ok := authenticate(w, r, s, res.authLimit)
		if !ok {
			return
		}
		websocket := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		if websocket {
			// A live subscription is long and mostly idle: it gives back its business's turn.
			tenancy.EndTurn(r.Context())
			// A subscription lives past the server's request timeouts (pings keep it honest),
			// but not forever: it holds its tenant's handle, so clients reconnect every while.
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
			ctx, cancel := context.WithTimeout(r.Context(), MaxConnectionLifetime)
			defer cancel()
			r = r.WithContext(ctx)
		}
		srv.ServeHTTP(w, r.WithContext(withLoaders(r.Context(), s, websocket)))
	})
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

// presentError gives every user-caused error a code and a useful message; anything else is
// logged with its field path (and the request's tenant and id) and shown as "internal error".
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		path := graphql.GetPath(ctx)
		var derr *domain.Error
		if errors.As(err, &derr) {
			ext := map[string]any{"code": codes[derr.Code]}
			if derr.Field != "" {
				ext["field"] = derr.Field
			}
			return &gqlerror.Error{Message: derr.Error(), Path: path, Extensions: ext}
		}
		// gqlgen's own parse and validation errors (and our rate-limit errors) have no cause and
		// are written for clients. Anything with a cause is a resolver's error: gqlgen wraps those
		// too, and unless they are domain errors (above; our scalars return those) they are internal.
		if gerr, ok := err.(*gqlerror.Error); ok && gerr.Err == nil {
			if _, ok := gerr.Extensions["code"]; !ok {
				return transportError(gerr)
			}
			return gerr
		}
		log.ErrorContext(ctx, "graphql resolver failed", "path", path.String(), "err", err)
		// A damaged database file marks its business failed; platform faults are worth a retry.
		if tenancy.Fault(ctx, err) || tenancy.IsFault(err) {
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
}

func (depthLimit) ExtensionName() string                   { return "ShapeLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
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
	case sh.fields > d.maxFields:
		return &gqlerror.Error{
			Message:    fmt.Sprintf("operation has %d fields once fragments are expanded; the limit is %d", sh.fields, d.maxFields),
			Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"},
		}
	}
	return nil
}

// shape is the depth and expanded field count of a selection set (counts saturate, so huge
// expansions cannot overflow).
type shape struct{ depth, fields int }

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
			sh.depth++
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
		out.fields = min(out.fields+sh.fields, saturated)
	}
	return out
}
