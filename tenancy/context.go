package tenancy

import (
	"context"
	"log/slog"

	"github.com/reserva/reserva/internal/logctx"
)

type leaseKey struct{}

// FromContext returns the tenant that the request (or job) was resolved to, with its open
// database. Code below the resolution middleware gets its tenant only from here.
func FromContext(ctx context.Context) (*Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(*Lease)
	return l, ok
}

// WithLease returns ctx carrying l (for jobs, which enter tenants without a request).
func WithLease(ctx context.Context, l *Lease) context.Context {
	ctx = logctx.With(ctx, slog.String("tenant", l.Tenant.Slug))
	return context.WithValue(ctx, leaseKey{}, l)
}
