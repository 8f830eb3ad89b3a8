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
	// body is counted for its Content-Length, or for the per-request limit when it has none,
	// from before it is read until its request ends.
	Bytes int64
	// Wait is how long a request waits for room in the budget before it gets 503 with
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

// claim is how much of the budget r's body is counted for before it is read: its declared
// length, or the most it may be (a body without Content-Length, or declaring more than the
// limit, is cut at the limit); never more than the whole budget, which would wait forever.
func (b *bodyBudget) claim(r *http.Request) int64 {
	n := r.ContentLength
	if n < 0 || n > domain.MaxBodyBytes {
		n = domain.MaxBodyBytes
	}
	return min(max(n, 1), b.size)
}

// acquire waits, at most b.wait, for n bytes of the budget.
func (b *bodyBudget) acquire(ctx context.Context, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	return b.sem.Acquire(ctx, n)
}

// readBody reads r to its end into a buffer sized for hint bytes (io.ReadAll would grow its
// buffer by doubling, holding up to twice what the budget counted).
func readBody(r io.Reader, hint int64) ([]byte, error) {
	buf := make([]byte, 0, max(hint, 512)+1) // +1: room to read the EOF without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
