package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// view is one KV bucket kept in memory, fed by a watch of every key: lookups cost no network
// call and a change made on any node shows here in milliseconds.
type view[T any] struct {
	bucket string
	kv     jetstream.KeyValue
	decode func([]byte) (T, error)
	now    func() time.Time
	log    *slog.Logger
	// applied is called, outside the lock, after each change is applied.
	applied func()

	mu      sync.Mutex
	entries map[string]viewEntry[T]
	ready   bool // the watch has delivered the bucket's contents and is running
	changed chan struct{}
	cancel  context.CancelFunc // ends the current watch
	began   time.Time          // when the current watch began
	lastRev uint64             // the highest revision delivered
	// target is the stream's last sequence at the previous stall check, at targetAt; the
	// watch should have delivered it by the next.
	target   uint64
	targetAt time.Time
	stalls   int // restarts since the view was last current (only the first is a warning)
}

type viewEntry[T any] struct {
	v    T
	rev  uint64
	seen time.Time // when this node received it, on its own clock
}

func newView[T any](bucket string, kv jetstream.KeyValue, decode func([]byte) (T, error), now func() time.Time, log *slog.Logger) *view[T] {
	v := &view[T]{bucket: bucket, kv: kv, decode: decode, now: now, log: log,
		entries: map[string]viewEntry[T]{}, changed: make(chan struct{})}
	v.applied = v.broadcast
	return v
}

// run keeps the view fed until ctx ends, watching again (after a pause) when a watch ends.
func (v *view[T]) run(ctx context.Context, retry time.Duration) {
	for ctx.Err() == nil {
		if err := v.watch(ctx); err != nil && ctx.Err() == nil {
			v.log.Warn("watch cluster state", "bucket", v.bucket, "err", err)
		}
		v.mu.Lock()
		v.ready = false
		v.mu.Unlock()
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (v *view[T]) watch(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v.mu.Lock()
	v.cancel, v.began = cancel, v.now()
	old := v.entries
	v.mu.Unlock()
	w, err := v.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }() // the watch may be gone already; nothing to report
	// A watch started again starts from the bucket's current contents; an entry that did not
	// change keeps the time it was first seen.
	fresh := map[string]viewEntry[T]{}
	initial := true
	for e := range w.Updates() {
		if e == nil { // the bucket's contents are all delivered
			v.mu.Lock()
			v.entries, v.ready, v.stalls = fresh, true, 0
			v.mu.Unlock()
			initial = false
			v.applied()
			continue
		}
		target := fresh
		v.mu.Lock()
		v.lastRev = max(v.lastRev, e.Revision())
		if !initial {
			target = v.entries
		} else {
			v.mu.Unlock()
		}
		if cur, ok := target[e.Key()]; ok && cur.rev > e.Revision() {
			// Older than what a read of the store itself taught the view (learn): a watch
			// that lagged is catching up.
			if !initial {
				v.mu.Unlock()
			}
			continue
		}
		switch e.Operation() {
		case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
			delete(target, e.Key())
		default:
			if val, err := v.decode(e.Value()); err != nil {
				v.log.Error("decode cluster state", "bucket", v.bucket, "key", e.Key(), "err", err)
				delete(target, e.Key())
			} else {
				seen := v.now()
				if prev, ok := old[e.Key()]; initial && ok && prev.rev == e.Revision() {
					seen = prev.seen
				}
				target[e.Key()] = viewEntry[T]{v: val, rev: e.Revision(), seen: seen}
			}
		}
		if !initial {
			v.mu.Unlock()
			v.applied()
		}
	}
	return nil
}

// learn records key's value as read from the store itself at revision rev, when it is newer
// than what the watch has delivered: a watch whose consumer sat on a server that stopped
// delivers nothing for seconds (until checkStall restarts it), and meanwhile lookups would
// keep returning what a read has just shown to be superseded. The watch's own delivery of
// that revision, or of an older one, changes nothing after.
func (v *view[T]) learn(key string, val T, rev uint64) {
	v.mu.Lock()
	cur, ok := v.entries[key]
	if !v.ready || (ok && cur.rev >= rev) {
		v.mu.Unlock()
		return
	}
	v.entries[key] = viewEntry[T]{v: val, rev: rev, seen: v.now()}
	v.mu.Unlock()
	v.applied()
}

// restart ends the current watch; run starts another, which the servers place afresh.
func (v *view[T]) restart() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cancel != nil {
		v.cancel()
	}
}

// checkStall restarts the watch when it has not delivered, within after, what the stream held
// at the previous check (lastSeq reads the stream's last sequence from its leader). A watch
// whose consumer sat on a server that stopped delivers nothing until the client notices missed
// idle heartbeats, tens of seconds later; a bucket cannot tell that from quiet by itself. A
// watch that has not started within after is tried again too. A failed read changes nothing.
func (v *view[T]) checkStall(ctx context.Context, lastSeq func(context.Context) (uint64, error), after time.Duration) {
	last, err := lastSeq(ctx)
	if err != nil {
		return
	}
	now := v.now()
	v.mu.Lock()
	stalled := false
	switch {
	case !v.ready:
		stalled = !v.began.IsZero() && now.Sub(v.began) > after
	case v.target == 0 || v.lastRev >= v.target:
		v.target, v.targetAt = last, now
	case now.Sub(v.targetAt) > after:
		stalled = true
	}
	if stalled {
		v.target = 0 // the next check takes a new measure (messages may have expired meanwhile)
		v.began = now
		v.stalls++
	}
	first := v.stalls == 1
	v.mu.Unlock()
	if stalled {
		// While cut off from the quorum no watch starts, and this repeats every check.
		level := slog.LevelDebug
		if first {
			level = slog.LevelWarn
		}
		v.log.Log(ctx, level, "a watch of cluster state stalled; watching again", "bucket", v.bucket)
		v.restart()
	}
}

// starting says whether the current watch began more than after ago and has not delivered
// the bucket yet.
func (v *view[T]) starting(after time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !v.ready && !v.began.IsZero() && v.now().Sub(v.began) > after
}

// get returns the entry at key; current says whether the view can be trusted, so that a
// missing entry means an absent key.
func (v *view[T]) get(key string) (e viewEntry[T], found, current bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, found = v.entries[key]
	return e, found, v.ready
}

// snapshot returns a copy of the entries, and whether the view is current.
func (v *view[T]) snapshot() (map[string]viewEntry[T], bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := make(map[string]viewEntry[T], len(v.entries))
	for k, e := range v.entries {
		m[k] = e
	}
	return m, v.ready
}

// broadcast wakes whoever waits on Changed.
func (v *view[T]) broadcast() {
	v.mu.Lock()
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
}

func (v *view[T]) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}
