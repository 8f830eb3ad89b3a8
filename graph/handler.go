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
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/reserva/reserva/domain"
)

// Limits on what one request may ask for.
const (
	MaxComplexity = 500
	MaxDepth      = 10
	MaxBodyBytes  = 1 << 20
)

// NewHandler returns the GraphQL HTTP handler. It must run below the tenancy middleware.
func NewHandler(log *slog.Logger) http.Handler {
	res := newResolver()
	srv := handler.New(NewExecutableSchema(Config{Resolvers: res}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second,
		// Browsers cannot set headers on websockets: the token may come in the init payload.
		// (The websocket library refuses cross-origin upgrades, so cookies cannot be abused.)
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if _, ok := viewerFrom(ctx); ok || p.Authorization() == "" {
				return ctx, &p, nil
			}
			if res.authLimit.Exhausted(clientOf(ctx)) {
				return ctx, nil, rateLimited("failed sign-ins")
			}
			v, err := viewerForToken(ctx, loadersFrom(ctx).store, strings.TrimPrefix(p.Authorization(), "Bearer "))
			if err != nil {
				res.authLimit.Allow(clientOf(ctx))
				return ctx, nil, err
			}
			return domain.WithViewer(ctx, v), &p, nil
		},
	})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{}) // a public API: clients may discover it, within the limits
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(depthLimit{MaxDepth})
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
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// A subscription lives past the server's request timeouts (keep-alive pings keep
			// it honest), and holds its tenant's handle while it lives.
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
		}
		srv.ServeHTTP(w, r.WithContext(withLoaders(r.Context(), s)))
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
		// gqlgen's own errors: parse and validation errors (no cause), and arguments that do not
		// coerce to their type (the cause is the scalar's parse error, written for users).
		if gerr, ok := err.(*gqlerror.Error); ok {
			if gerr.Err != nil {
				gerr.Message = "invalid argument: " + gerr.Err.Error()
				if gerr.Extensions == nil {
					gerr.Extensions = map[string]any{}
				}
				gerr.Extensions["code"] = "BAD_USER_INPUT"
			}
			return gerr
		}
		log.ErrorContext(ctx, "graphql resolver failed", "path", path.String(), "err", err)
		return &gqlerror.Error{Message: "internal error", Path: path, Extensions: map[string]any{"code": "INTERNAL"}}
	}
}

// depthLimit rejects operations nested deeper than max selection levels.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, oc.Doc.Fragments, 0); depth > d.max {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("operation is nested %d levels deep; the limit is %d", depth, d.max),
			Extensions: map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"},
		}
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, seen int) int {
	if seen > 100 { // fragment cycles are rejected by validation; this only bounds the walk
		return seen
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = 1 + selectionDepth(s.SelectionSet, frags, seen+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, seen+1)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, frags, seen+1)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
