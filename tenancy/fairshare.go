package tenancy

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

// defaultFairShare leaves at least one core for other tenants: n-1 of n cores, at least one.
func defaultFairShare() int { return max(1, runtime.GOMAXPROCS(0)-1) }

func newFairShare(n int, wait time.Duration) *fairShare {
	return &fairShare{n: n, wait: wait, slots: map[string]*fairSlot{}}
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

type turnKey struct{}

// EndTurn gives back the request's turn of its tenant's fair share before the request ends: a
// handler that has done its work on the tenant and only has a slow client left to write to
// (a download) calls it, so the business's other requests need not wait for that client.
func EndTurn(ctx context.Context) {
	if end, ok := ctx.Value(turnKey{}).(func()); ok {
		end()
	}
}
