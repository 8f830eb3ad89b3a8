package web

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/logctx"
	"github.com/reserva/reserva/internal/metrics"
)

// requestID gives every request an id, echoed in X-Request-Id and logged with everything the
// request logs.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := rand.Text()[:16]
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(logctx.With(r.Context(), slog.String("request_id", id))))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	name   metrics.Name // the request's route, for its figures
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs each request's method, path, status and duration at debug level, and server
// errors at error level, and counts and times it in /metrics under its route. The time is the
// whole request's, business resolved and opened (a cold start, a pending migration) and
// session loaded included.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		if s.Metrics != nil {
			r = r.WithContext(rec.name.Context(r.Context()))
		}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if s.Metrics != nil {
			s.Metrics.Request(rec.name.String(), rec.status, time.Since(start))
		}
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelError
		}
		// Asked first: the arguments, boxed into a slice, cost allocations on every request
		// even when the level is off (debug, in production).
		if s.Log.Enabled(r.Context(), level) {
			s.Log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", time.Since(start))
		}
	})
}

// recoverPanics turns a handler's panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				s.Log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
				s.errorPage(w, r, http.StatusInternalServerError, nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries. Their values are made once and
// shared by every response: Header.Set would allocate a slice for each, on every request. A
// shared value is never changed in place: Set and Del replace a header's slice, and Add's append
// copies one that is full (len == cap), as these are.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"] = cspValue
		h["X-Content-Type-Options"] = nosniffValue
		h["Referrer-Policy"] = referrerValue
		h["X-Frame-Options"] = denyValue
		next.ServeHTTP(w, r)
	})
}

var (
	cspValue      = []string{"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"}
	nosniffValue  = []string{"nosniff"}
	referrerValue = []string{"strict-origin-when-cross-origin"}
	denyValue     = []string{"DENY"}
)

// limitBody caps request bodies at domain.MaxBodyBytes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, domain.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// bufferBody reads a request's whole body (limitBody caps it) before the request goes any
// further, so before it takes a turn of its business's fair share: a client that sends its body
// slowly (a byte every few seconds) only ever keeps its own request waiting. Read after the
// turn, one such client held a business's only turn for the whole server read timeout and every
// other visitor of the business got 503. A body over the limit reaches the handler as a reader
// that fails with that error, so each handler answers it as before (413). A body the client
// stopped sending (it went away, or was too slow for the server's read timeout) ends the
// request here with 408: the client's doing, not a fault of the platform to log at ERROR and
// answer 503 (its context is cancelled by then, and the business's look-up failed with it).
// The bodies being buffered share budget (see BodyBudget), counted as they arrive: a request
// that finds no room in it for its next bytes within the budget's wait gets 503 with
// Retry-After, and the rest of its body stays unread.
func bufferBody(budget *bodyBudget, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// (limitBody has wrapped even an absent body: its length says there is none.)
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		body, held, err := budget.readBody(r.Context(), r.Body, hint(r))
		defer func() { budget.sem.Release(held) }()
		if errors.Is(err, errNoRoom) {
			if r.Context().Err() != nil {
				return // the client went away while it waited: nobody to answer
			}
			w.Header().Set("Connection", "close") // its body stays unread
			w.Header().Set("Retry-After", "1")
			http.Error(w, errBodyBudget.Error(), http.StatusServiceUnavailable)
			return
		}
		var tooBig *http.MaxBytesError
		if err != nil && !errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close")
			http.Error(w, "The request's body did not arrive in time: please send it again.", http.StatusRequestTimeout)
			return
		}
		if n := int64(len(body)); n < held {
			// The buffer's unused end: the rest of the budget is for others at once.
			budget.sem.Release(held - n)
			held = n
		}
		r.Body = &bufferedBody{Reader: bytes.NewReader(body), buf: body, err: err}
		next.ServeHTTP(w, r)
	})
}

// bufferedBody is a body read in full, or as far as it could be read and why it stopped.
type bufferedBody struct {
	*bytes.Reader
	buf []byte
	err error // nil: the whole body
}

// Buffered returns what is left to read of the body, without copying it, and why its reading
// stopped short (nil: nothing is missing). The GraphQL handler takes the body so: it is
// already in memory, counted against the body budget, and a second copy would double it.
func (b *bufferedBody) Buffered() ([]byte, error) {
	return b.buf[len(b.buf)-b.Len():], b.err
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *bufferedBody) Close() error { return nil }

// requireUTF8 refuses query strings and form bodies that are not valid UTF-8 (400), so no
// handler stores text nobody can read back.
func (s *Server) requireUTF8(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := validValues(r.URL.Query())
		if ok && r.Method == http.MethodPost {
			if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
				// A body that cannot be read is refused here: a handler must never take it for
				// an empty form (and save empty notes, say).
				if err := r.ParseForm(); err != nil {
					var tooBig *http.MaxBytesError
					v := errorView{Status: http.StatusBadRequest, Title: "This form could not be read",
						Message: "Go back and send it again."}
					if errors.As(err, &tooBig) {
						v.Status, v.Title, v.Message = http.StatusRequestEntityTooLarge, "Too much text", "This form sent more than 1 MiB. Shorten it and send it again."
					}
					render(w, r, v.Status, errorPage(v))
					return
				}
				ok = validValues(r.PostForm)
			}
		}
		if !ok {
			v := errorView{Status: http.StatusBadRequest, Title: "This form could not be read",
				Message: "Some of what was sent is not valid UTF-8 text. Go back, retype it and send it again."}
			render(w, r, http.StatusBadRequest, errorPage(v))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func validValues(vs url.Values) bool {
	for k, list := range vs {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range list {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// render writes a templ component as an HTML response with status. The page is rendered into a
// buffer first and sent in one write with its length: rendered straight into the response,
// templ flushed it part-way, so every page cost a write to the connection of its own and a
// chunked end, and a page that failed half-way went out cut short under its status.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	if err := c.Render(r.Context(), buf); err != nil {
		slog.ErrorContext(r.Context(), "render page", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client gone away is no server error
}

// pageBuffers are render's buffers, reused: most pages are a few kilobytes.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledPage bounds the buffers kept for reuse: one very large page (a long list) does not
// keep its memory for good.
const maxPooledPage = 256 << 10

func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledPage {
		return
	}
	b.Reset()
	pageBuffers.Put(b)
}
