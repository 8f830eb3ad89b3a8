package graph

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/reserva/reserva/tenancy"
)

// limiter gives each client (tenant + IP address) a token bucket per kind of action.
type limiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds memory: past it the buckets start afresh (a flood of addresses resets
// everyone's allowance, it never blocks the server).
const maxBuckets = 100_000

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	return b
}

// allow takes one token of key's bucket, if there is one.
func (l *limiter) allow(key string) bool { return l.bucket(key).Allow() }

// exhausted reports, without taking one, whether key's bucket is out of tokens.
func (l *limiter) exhausted(key string) bool { return l.bucket(key).Tokens() < 1 }

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
func allowed(ctx context.Context, l *limiter, what string) error {
	if l.allow(clientOf(ctx)) {
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
