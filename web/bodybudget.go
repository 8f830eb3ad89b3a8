package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/reserva/reserva/domain"
)

// BodyBudget bounds the memory that request bodies buffered before routing hold at once (see
// bufferBody). Each body is capped on its own (domain.MaxBodyBytes, 413 beyond), but without a
// bound on their sum a thousand clients sending bodies slowly could hold a gigabyte.
type BodyBudget struct {
	// Bytes is the most that buffered bodies hold at once: default DefaultMaxBufferedBytes. A
	// body is counted for the buffer it is read into, which grows as its bytes arrive (at most
	// doubling), from before it is read until its request ends.
	Bytes int64
	// Wait is how long a request waits in all for room in the budget before it gets 503 with
	// Retry-After: default DefaultBodyBudgetWait.
	Wait time.Duration
}

// Defaults of BodyBudget, shown by serve's --max-buffered-bytes flag and the README.
const (
	DefaultMaxBufferedBytes = 64 << 20
	DefaultBodyBudgetWait   = 2 * time.Second
)

// errBodyBudget is the message of a request refused because buffered bodies fill the budget.
var errBodyBudget = errors.New("the server is receiving too many requests at once: please try again in a moment")

// bodyBudget is a BodyBudget in use: a weighted semaphore of bytes.
type bodyBudget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration
}

func newBodyBudget(c BodyBudget) *bodyBudget {
	if c.Bytes <= 0 {
		c.Bytes = DefaultMaxBufferedBytes
	}
	if c.Wait <= 0 {
		c.Wait = DefaultBodyBudgetWait
	}
	return &bodyBudget{sem: semaphore.NewWeighted(c.Bytes), size: c.Bytes, wait: c.Wait}
}

// firstChunk is the most of the budget a body is counted for before any of it has arrived.
// Memory is counted as a body arrives, not for what it declares: a Content-Length costs a
// client nothing to send, and when each declared megabyte held its share from the headers on, a
// few dozen connections that sent headers and no body held the whole budget (each for the read
// timeout, again and again), and every request with a body, on every business, got 503.
const firstChunk = 4 << 10

// hint is the most r's body may hold: its declared length, or the limit when it declares none
// (or more than the limit, which is cut at it).
func hint(r *http.Request) int64 {
	n := r.ContentLength
	if n < 0 || n > domain.MaxBodyBytes {
		n = domain.MaxBodyBytes
	}
	return max(n, 1)
}

// errNoRoom is why readBody stopped: the budget had no room for the body's next bytes.
var errNoRoom = errors.New("no room in the body budget")

// readBody reads r to its end (hint bytes at most are expected; the limit cuts a longer body)
// into a buffer that grows as the body arrives, each growth counted in the budget before it is
// made, within the budget's wait in all. It returns the body and how much of the budget it
// holds (the caller releases it); errNoRoom when the budget had no room within the wait. The
// buffer at most doubles at a time, up to hint+1 (room to read the EOF without growing), so
// what a body holds is never much more than twice what its client sent (io.ReadAll would grow
// past the declared length).
func (b *bodyBudget) readBody(ctx context.Context, r io.Reader, hint int64) (buf []byte, held int64, err error) {
	deadline := time.Now().Add(b.wait)
	grow := func(n int64) error {
		n = min(n, b.size-held)
		if n <= 0 {
			return errNoRoom // the whole budget is this body's already
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		if err := b.sem.Acquire(wctx, n); err != nil {
			return errNoRoom
		}
		held += n
		return nil
	}
	if err := grow(min(hint+1, firstChunk)); err != nil {
		return nil, held, err
	}
	buf = make([]byte, 0, held)
	for {
		if len(buf) == cap(buf) {
			next := min(max(2*int64(cap(buf)), firstChunk), hint+1, domain.MaxBodyBytes+1)
			if next <= int64(cap(buf)) {
				next = int64(cap(buf)) + firstChunk // a body longer than it declared: the limit ends it
			}
			if err := grow(next - int64(cap(buf))); err != nil {
				return buf, held, err
			}
			buf = append(make([]byte, 0, held), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, held, nil
		}
		if err != nil {
			return buf, held, err
		}
	}
}
