package web

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// fairShare bounds how many requests of one tenant run at once, so that one busy business (a
// big export, a stream of writes) always leaves the other cores to everyone else. Its other
// requests wait for its turn, in the order they came, up to a limit.
//
// The bound holds even while the process is otherwise idle. Letting a tenant borrow idle cores
// looked free, but requests cannot be taken back once started: another business's request that
// arrived a moment later found every core taken by the busy one: with one business exporting
// and writing as fast as it could, others' availability tail was twice as long when borrowing
// was allowed (docs/perf.md).
type fairShare struct {
	n     int
	wait  time.Duration
	mu    sync.Mutex
	slots map[string]*fairSlot
}

type fairSlot struct {
	ch    chan struct{}
	users int // holding or waiting
}

// ErrBusy means a tenant's requests waited too long for their turn.
var ErrBusy = errors.New("this business is busy: try again in a moment")

// DefaultFairShareWait is how long a request waits for its business's turn before it gets 503.
const DefaultFairShareWait = 10 * time.Second

// DefaultFairShare leaves at least one core for other tenants: n-1 of the n cores Go runs on,
// at least one.
func DefaultFairShare() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// FairShare configures the fair share of TenantMiddleware.
type FairShare struct {
	// N is how many requests of one tenant run at once (the rest wait their turn, at most Wait,
	// then get 503): default DefaultFairShare(), so a busy business cannot take every core from
	// the others.
	N    int
	Wait time.Duration // default DefaultFairShareWait
}

func newFairShare(c FairShare) *fairShare {
	if c.N <= 0 {
		c.N = DefaultFairShare()
	}
	if c.Wait <= 0 {
		c.Wait = DefaultFairShareWait
	}
	return &fairShare{n: c.N, wait: c.Wait, slots: map[string]*fairSlot{}}
}

// enter waits for a turn of tenant id and returns the function that ends it (safe to call more
// than once).
func (f *fairShare) enter(ctx context.Context, id string) (func(), error) {
	f.mu.Lock()
	s := f.slots[id]
	if s == nil {
		s = &fairSlot{ch: make(chan struct{}, f.n)}
		f.slots[id] = s
	}
	s.users++
	f.mu.Unlock()
	leave := func() {
		f.mu.Lock()
		if s.users--; s.users == 0 {
			delete(f.slots, id)
		}
		f.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
	default:
		timer := time.NewTimer(f.wait)
		defer timer.Stop()
		select {
		case s.ch <- struct{}{}:
		case <-timer.C:
			leave()
			return nil, ErrBusy
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.ch
			leave()
		})
	}, nil
}
