package graph

import (
	"context"
	"net"
	"net/http"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

type clientKey struct{}

// withClient remembers who the client is (tenant and IP address) for rate limits.
func withClient(r *http.Request) *http.Request {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if l, ok := tenancy.FromContext(r.Context()); ok {
		host = l.Tenant.ID + "/" + host
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, host))
}

func clientOf(ctx context.Context) string {
	key, _ := ctx.Value(clientKey{}).(string)
	return key
}

// allowed fails with RATE_LIMITED when the request's client has used up its allowance in l.
func allowed(ctx context.Context, l *ratelimit.Limiter, what string) error {
	if l.Allow(clientOf(ctx)) {
		return nil
	}
	return rateLimited(what)
}

func rateLimited(what string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "too many " + what + " from this address; wait a few seconds and try again",
		Extensions: map[string]any{"code": "RATE_LIMITED"},
	}
}
