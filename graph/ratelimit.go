package graph

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

type clientKey struct{}

// withClient remembers who the client is (tenant and address) for rate limits. The address is
// the one the web layer found (behind trusted proxies, the forwarded client), else the peer.
func withClient(r *http.Request) *http.Request {
	host := ratelimit.ClientFrom(r)
	if l, ok := tenancy.FromContext(r.Context()); ok {
		host = l.Tenant.ID + "/" + host
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, host))
}

func clientOf(ctx context.Context) string {
	key, _ := ctx.Value(clientKey{}).(string)
	return key
}

// rateLimited is the RATE_LIMITED error, with extensions.retryAfter in whole seconds; the HTTP
// answer carrying it gets a Retry-After header too.
func rateLimited(ctx context.Context, what string, wait time.Duration) *gqlerror.Error {
	secs := ratelimit.Seconds(wait)
	if h, ok := ctx.Value(retryAfterKey{}).(*atomic.Int64); ok {
		h.Store(int64(secs))
	}
	return &gqlerror.Error{
		Message:    "too many " + what + " from this address; try again in " + strconv.Itoa(secs) + " s",
		Extensions: map[string]any{"code": "RATE_LIMITED", "retryAfter": secs},
	}
}

type retryAfterKey struct{}

// retryAfterWriter adds Retry-After to a response when a resolver was rate limited: the answer
// is written after the resolvers ran, so the header still can be set.
type retryAfterWriter struct {
	http.ResponseWriter
	secs *atomic.Int64
}

func (w retryAfterWriter) setHeader() {
	if s := w.secs.Load(); s > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(s, 10))
	}
}

func (w retryAfterWriter) WriteHeader(code int) { w.setHeader(); w.ResponseWriter.WriteHeader(code) }

func (w retryAfterWriter) Write(b []byte) (int, error) {
	w.setHeader()
	return w.ResponseWriter.Write(b)
}

func (w retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRetryAfter gives r a place for a resolver's wait and w the header that says it.
func withRetryAfter(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	secs := new(atomic.Int64)
	return retryAfterWriter{w, secs}, r.WithContext(context.WithValue(r.Context(), retryAfterKey{}, secs))
}
