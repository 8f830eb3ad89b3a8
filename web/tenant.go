package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/reserva/reserva/internal/logctx"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/tenancy"
)

// ErrorPage writes an error page for status; err is what went wrong (not for the client's eyes
// when status is 500).
type ErrorPage func(w http.ResponseWriter, r *http.Request, status int, err error)

// TenantMiddleware resolves every request under /{slug}/... (or on a registered custom host) to exactly
// one tenant, leases its migrated database and puts it in the request context, before any handler
// runs; the lease ends with the request. Paths whose first segment is a reserved name (/static,
// /signup, /healthz, ...) or empty pass through with no tenant. On a custom host, paths are
// rewritten to /{slug}/... so the routes are the same as on the platform host.
//
// Unknown slugs give 404, old slugs of renamed tenants a 301 to the new one, and a tenant that
// cannot be served (failed migration) a 503, while every other tenant keeps serving.
//
// Each request takes its turn of its business's fair share (see FairShare) before its lease.
func TenantMiddleware(m *tenancy.Manager, share FairShare, next http.Handler, fail ErrorPage) http.Handler {
	return tenantMiddleware(m, share, nil, next, fail)
}

// ErrMisdirected is what a Fence returns when this node does not own the business: the request
// is answered 421, and the node that forwarded it asks the cluster for the owner again.
var ErrMisdirected = errors.New("this node does not own the business")

// Fence checks, in cluster mode, that this node owns a business before it serves one of its
// requests (issue #23): nil to serve; an error wrapping ErrMisdirected when another node owns
// it (421); any other error when ownership cannot be told now (503, retry).
type Fence func(ctx context.Context, t tenancy.Tenant) error

func tenantMiddleware(m *tenancy.Manager, share FairShare, fence Fence, next http.Handler, fail ErrorPage) http.Handler {
	fair := newFairShare(share)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var t tenancy.Tenant
		if ht, err := m.ResolveHost(ctx, tenancy.NormalizeHost(r.Host)); err == nil {
			t = ht
			if seg, _ := splitFirst(r.URL.Path); seg != t.Slug {
				r.URL.Path = "/" + t.Slug + r.URL.Path
				r.URL.RawPath = ""
			}
		} else if !errors.Is(err, tenancy.ErrNotFound) {
			serverError(m, w, r, fail, err)
			return
		} else {
			seg, rest := splitFirst(r.URL.Path)
			if seg == "" || tenancy.IsReservedSlug(seg) {
				next.ServeHTTP(w, r)
				return
			}
			found, redirect, err := m.Resolve(ctx, seg)
			switch {
			case redirect != "":
				target := "/" + redirect + rest
				if r.URL.RawQuery != "" {
					target += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, target, http.StatusMovedPermanently)
				return
			case errors.Is(err, tenancy.ErrNotFound):
				fail(w, r, http.StatusNotFound, err)
				return
			case err != nil:
				serverError(m, w, r, fail, err)
				return
			}
			t = found
		}
		if t.Status != tenancy.TenantActive {
			fail(w, r, http.StatusServiceUnavailable, tenancy.ErrUnavailable)
			return
		}
		// The owner check is here, in one place, before the business's turn and its database:
		// a node that does not own the business must not open its copy.
		if fence != nil {
			if err := fence(ctx, t); err != nil {
				misdirected(m, w, r.WithContext(logctx.With(ctx, slog.String("tenant", t.Slug))), fail, err)
				return
			}
		}

		// Its turn first, then its database. (A live subscription gives its turn back with
		// turn.End once it is upgraded, and takes one with turn.Take for each query or
		// mutation sent over it.)
		end, err := fair.enter(ctx, t.ID)
		if err != nil {
			w.Header().Set("Retry-After", "5")
			fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		defer end()
		ctx = turn.With(ctx, end, func(ctx context.Context) (func(), error) { return fair.enter(ctx, t.ID) })
		lease, err := m.AcquireBounded(ctx, t)
		if errors.Is(err, tenancy.ErrNotFound) { // deleted while this request waited
			fail(w, r, http.StatusNotFound, err)
			return
		}
		if err != nil {
			if errors.Is(err, tenancy.ErrUnavailable) || errors.Is(err, tenancy.ErrClosed) || ctx.Err() != nil ||
				errors.Is(err, context.DeadlineExceeded) {
				w.Header().Set("Retry-After", "30")
				fail(w, r, http.StatusServiceUnavailable, err)
				return
			}
			serverError(m, w, r.WithContext(logctx.With(ctx, slog.String("tenant", t.Slug))), fail, err)
			return
		}
		defer lease.Release()
		next.ServeHTTP(w, r.WithContext(tenancy.WithLease(ctx, lease)))
	})
}

// misdirected answers a request that the fence refused: 421 when another node owns its
// business (the forwarder asks the cluster again), 503 when ownership cannot be told now.
func misdirected(m *tenancy.Manager, w http.ResponseWriter, r *http.Request, fail ErrorPage, err error) {
	if errors.Is(err, ErrMisdirected) {
		fail(w, r, http.StatusMisdirectedRequest, err)
		return
	}
	m.Config().Logger.WarnContext(r.Context(), "check ownership of tenant", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	fail(w, r, http.StatusServiceUnavailable, err)
}

// serverError answers a request whose tenant could not be resolved or opened for a reason other
// than the ones above (the registry or the file system failing): a fault of the platform, not
// of the request, so 503 with Retry-After rather than 500.
func serverError(m *tenancy.Manager, w http.ResponseWriter, r *http.Request, fail ErrorPage, err error) {
	m.Config().Logger.ErrorContext(r.Context(), "resolve tenant", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "30")
	fail(w, r, http.StatusServiceUnavailable, err)
}

// splitFirst splits "/acme/admin/x" into "acme" and "/admin/x".
func splitFirst(path string) (seg, rest string) {
	path = strings.TrimPrefix(path, "/")
	seg, rest, found := strings.Cut(path, "/")
	if found {
		rest = "/" + rest
	}
	return seg, rest
}
