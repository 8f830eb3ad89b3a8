package web

import (
	"net/http"
	"strings"

	"github.com/reserva/reserva/internal/gqlerr"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/tenancy"
)

// syncWrites is where writes are acknowledged with --replica-ack sync: the answer to a request
// that committed anything to its business's database (or to the registry) goes out only once
// the replica holds it. It wraps every tenant route below the tenant middleware and above the
// sessions (whose commit, a sign-in, comes first), so no handler has to remember it: a booking,
// a cancellation, a settings change or a GraphQL mutation is held at its first byte of answer
// (or at its end, when it wrote none) while the business's replica catches up; concurrent
// requests of one business share that wait. Reads (GET, HEAD) and requests that committed
// nothing pass at once. Background writes (last seen, outbox, stats) are not requests and stay
// asynchronous.
//
// A failed sync means the change may or may not be in the replica: the answer becomes a 503
// saying so, and a retry is safe (bookings carry an idempotency key).
func (s *Server) syncWrites(next http.Handler) http.Handler {
	if s.Tenants == nil || !s.Tenants.SyncAck() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lease, ok := tenancy.FromContext(r.Context())
		if !ok || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		aw := &ackWriter{ResponseWriter: w, s: s, r: r, lease: lease, mark: lease.Mark()}
		next.ServeHTTP(aw, r)
		aw.ack()
	})
}

// ackWriter holds a response back until the request's commits are in the replica.
type ackWriter struct {
	http.ResponseWriter
	s     *Server
	r     *http.Request
	lease *tenancy.Lease
	mark  tenancy.WriteMark
	done  bool // ack ran
	ok    bool // and the handler's answer may go out
}

// ack syncs once, at the first byte of the answer; it reports whether the handler's answer
// may go out (false: a 503 went out instead).
func (a *ackWriter) ack() bool {
	if a.done {
		return a.ok
	}
	a.done = true
	// The request's work on its business is done: its turn of the fair share goes back while
	// it waits for the replica (see AckWrites).
	ctx := a.r.Context()
	err := a.lease.AckWrites(ctx, a.mark, func() { turn.End(ctx) })
	if err == nil {
		a.ok = true
		return true
	}
	a.s.unconfirmedWrite(a.ResponseWriter, a.r, a.lease.Tenant.Slug, err)
	return false
}

// unconfirmedWrite answers a write whose sync to the replica failed: 503, outcome unknown,
// retry. Whatever the handler had set for its own answer (a redirect, a cookie) is dropped.
func (s *Server) unconfirmedWrite(w http.ResponseWriter, r *http.Request, slug string, err error) {
	s.Log.ErrorContext(r.Context(), "write not acknowledged: the replica did not confirm it",
		"tenant", slug, "method", r.Method, "path", r.URL.Path, "err", err)
	h := w.Header()
	for _, k := range []string{"Location", "Set-Cookie", "Content-Type", "Content-Length", "Content-Disposition", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Retry-After", "1")
	h.Set("Cache-Control", "no-store")
	const msg = "Your change could not be confirmed as saved: it may or may not have been made. Please try again; a repeated booking is recognised and not made twice."
	if strings.HasSuffix(r.URL.Path, "/graphql") {
		gqlerr.Write(w, http.StatusServiceUnavailable, gqlerr.OutcomeUnknown())
		return
	}
	render(w, r, http.StatusServiceUnavailable, errorPage(errorView{
		Status: http.StatusServiceUnavailable, Title: "Please try again", Message: msg}))
}

func (a *ackWriter) WriteHeader(code int) {
	if a.ack() {
		a.ResponseWriter.WriteHeader(code)
	}
}

func (a *ackWriter) Write(b []byte) (int, error) {
	if !a.ack() {
		return len(b), nil // the handler's answer is dropped: the 503 went out instead
	}
	return a.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (a *ackWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
