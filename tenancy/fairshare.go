package tenancy

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// fairShare bounds how many requests of one tenant run at once while the process is busy, so
// one busy business (a big export, a stream of writes) leaves the other cores to everyone else.
// It is work-conserving: while fewer requests run than there are cores, a tenant over its share
// runs at once anyway; only when the cores are taken does it wait for its own turn (in the order
// its requests came, up to a limit).
type fairShare struct {
	n       int
	wait    time.Duration
	busy    int          // requests running at which the process counts as busy
	running atomic.Int64 // requests running, all tenants
	mu      sync.Mutex
	slots   map[string]*fairSlot
	freed   chan struct{} // closed and replaced when a request ends while others wait (they look again)
	waiting int           // requests in the wait loop (under mu)
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
	return &fairShare{n: n, wait: wait, busy: runtime.GOMAXPROCS(0), slots: map[string]*fairSlot{}, freed: make(chan struct{})}
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
	held := true // a turn taken from s.ch, to give back
	var timer *time.Timer
	registered := false
	defer func() {
		if registered {
			f.mu.Lock()
			f.waiting--
			f.mu.Unlock()
		}
	}()
wait:
	for {
		f.mu.Lock()
		if !registered && timer != nil { // counted before freed is read, so no wake is missed
			f.waiting++
			registered = true
		}
		freed := f.freed
		f.mu.Unlock()
		select {
		case s.ch <- struct{}{}:
			break wait
		default:
		}
		if f.running.Load() < int64(f.busy) {
			held = false // cores to spare: no need to wait for a turn
			break
		}
		if timer == nil {
			// About to wait: the next pass registers as waiting, then looks again.
			timer = time.NewTimer(f.wait)
			defer timer.Stop()
			continue
		}
		select {
		case s.ch <- struct{}{}:
			break wait
		case <-freed: // a request ended somewhere: look again
		case <-timer.C:
			leave()
			return nil, ErrBusy
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	f.running.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			f.running.Add(-1)
			if held {
				<-s.ch
			}
			leave()
			f.mu.Lock()
			if f.waiting > 0 {
				close(f.freed)
				f.freed = make(chan struct{})
			}
			f.mu.Unlock()
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
