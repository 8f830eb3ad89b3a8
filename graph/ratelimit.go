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
	if h, ok := ctx.Value(retryAfterKey{}).(*retryAfter); ok {
		h.secs.Store(int64(secs))
	}
	return &gqlerror.Error{
		Message:    "too many " + what + " from this address; try again in " + strconv.Itoa(secs) + " s",
		Extensions: map[string]any{"code": "RATE_LIMITED", "retryAfter": secs},
	}
}

type retryAfterKey struct{}

// retryAfter is what the resolvers of one HTTP request found worth a wait: the longest
// Retry-After (in seconds) of a rate limit, and whether a platform fault left the business
// unable to answer.
type retryAfter struct {
	secs        atomic.Int64
	unavailable atomic.Bool
}

// faultRetryAfter is the wait a client is told after a platform fault (TENANT_UNAVAILABLE), as
// the tenant middleware tells it for a business it cannot open.
const faultRetryAfter = 30

// setUnavailable records in ctx's request that a platform fault kept the business from
// answering: the response becomes 503 with Retry-After.
func setUnavailable(ctx context.Context) {
	if h, ok := ctx.Value(retryAfterKey{}).(*retryAfter); ok {
		h.unavailable.Store(true)
		for {
			old := h.secs.Load()
			if old >= faultRetryAfter || h.secs.CompareAndSwap(old, faultRetryAfter) {
				return
			}
		}
	}
}

// retryAfterWriter adds Retry-After to a response when a resolver was rate limited, and makes
// it 503 when a platform fault stopped a resolver (TENANT_UNAVAILABLE): the answer is written
// after the resolvers ran, so the header and status still can be set.
type retryAfterWriter struct {
	http.ResponseWriter
	r           *retryAfter
	wroteHeader bool
}

func (w *retryAfterWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if s := w.r.secs.Load(); s > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(s, 10))
		}
		if code == http.StatusOK && w.r.unavailable.Load() {
			code = http.StatusServiceUnavailable
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *retryAfterWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRetryAfter gives r a place for a resolver's wait and w the header that says it.
func withRetryAfter(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	h := new(retryAfter)
	return &retryAfterWriter{ResponseWriter: w, r: h}, r.WithContext(context.WithValue(r.Context(), retryAfterKey{}, h))
}
