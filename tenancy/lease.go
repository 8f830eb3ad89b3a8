package tenancy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lease is a tenant's open, fully migrated database, held until Release. Only the code that
// acquired a lease releases it.
type Lease struct {
	Tenant   Tenant
	DB       *DB
	Location *time.Location // the tenant's time zone

	m    *Manager
	e    *entry
	once sync.Once
}

// Release gives the handle back. It is safe to call more than once. (The lease ProvisionWith
// lends its setup belongs to no Manager: releasing it does nothing.)
func (l *Lease) Release() {
	if l.m != nil {
		l.once.Do(func() { l.m.release(l.e) })
	}
}

// Acquire returns a lease on t's database, opening and migrating it first if needed. It waits
// while another caller opens or migrates t, while an exclusive operation (delete, restore) runs
// on t, and while every open slot is leased; ctx bounds each wait.
func (m *Manager) Acquire(ctx context.Context, t Tenant) (*Lease, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if until, ok := m.faulted[t.ID]; ok {
			if m.cfg.Now().Before(until) {
				m.mu.Unlock()
				return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, t.Slug, ErrCorrupt)
			}
			delete(m.faulted, t.ID) // look at its file again
		}
		e := m.entryLocked(t.ID)
		if gate := e.exclusive; gate != nil {
			m.mu.Unlock()
			select {
			case <-gate:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("tenant %s: %w", t.Slug, ctx.Err())
			}
		}
		e.refs++
		if e.idleElem != nil {
			m.idle.Remove(e.idleElem)
			e.idleElem = nil
		}
		db := e.db
		m.mu.Unlock()

		if db == nil {
			var err error
			if db, err = m.openEntry(ctx, e, t); err != nil {
				m.release(e)
				return nil, err
			}
		}
		return &Lease{Tenant: t, DB: db, Location: m.zone(t.Timezone), m: m, e: e}, nil
	}
}

// AcquireBounded is Acquire waiting at most Config.AcquireWait: for requests and for jobs that
// go through many tenants, where one stuck tenant must not hold up the rest. The lease, once
// had, is not bound to that deadline.
func (m *Manager) AcquireBounded(ctx context.Context, t Tenant) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.AcquireWait)
	defer cancel()
	return m.Acquire(ctx, t)
}

// Leases returns how many leases of tenant id are out (requests, jobs, live subscriptions).
func (m *Manager) Leases(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[id]; e != nil {
		return e.refs
	}
	return 0
}

// Visit runs fn on a lease of t for a job that goes through many tenants: a tenant that was
// closed before is closed again after, so the visit never pushes the tenants requests are using
// out of the handle cache.
func (m *Manager) Visit(ctx context.Context, t Tenant, fn func(*Lease) error) error {
	wasOpen := m.isOpen(t.ID)
	l, err := m.AcquireBounded(ctx, t)
	if err != nil {
		return err
	}
	err = fn(l)
	if IsCorrupt(err) {
		m.fault(ctx, t, err)
	}
	l.Release()
	if !wasOpen {
		m.closeIfIdle(t.ID)
	}
	return err
}

// ForEachOpen runs fn on a lease of every tenant whose database is open right now (the active
// ones), one at a time; a tenant that fails is logged and the others go on. The failures are
// returned joined, each naming its tenant, so that a job reports a run with a failing tenant
// as failed rather than done.
func (m *Manager) ForEachOpen(ctx context.Context, fn func(*Lease) error) (done int, err error) {
	m.mu.Lock()
	var ids []string
	for id, e := range m.entries {
		if e.db != nil {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	return m.forEach(ctx, ids, fn)
}

// forEach is ForEachOpen over the tenants ids.
func (m *Manager) forEach(ctx context.Context, ids []string, fn func(*Lease) error) (done int, err error) {
	var failed []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		t, err := m.reg.Get(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		l, err := m.AcquireBounded(ctx, t)
		if err != nil {
			m.cfg.Logger.ErrorContext(ctx, "open tenant for maintenance", "tenant", t.Slug, "err", err)
			failed = append(failed, fmt.Errorf("tenant %s: open: %w", t.Slug, err))
			continue
		}
		err = fn(l)
		if IsCorrupt(err) {
			m.fault(ctx, t, err)
		}
		l.Release()
		if err != nil {
			if ctx.Err() != nil {
				return done, ctx.Err() // stopped (a shutdown), not this tenant's failure
			}
			m.cfg.Logger.ErrorContext(ctx, "tenant maintenance", "tenant", t.Slug, "err", err)
			failed = append(failed, fmt.Errorf("tenant %s: %w", t.Slug, err))
			continue
		}
		done++
	}
	return done, errors.Join(failed...)
}

// Commits remembers which commits of each open database ForEachCommitted has seen. The zero
// value has seen none.
type Commits struct {
	seen map[*DB]uint64
}

// ForEachCommitted is ForEachOpen for the tenants whose databases committed anything since the
// previous call with c (every open one at the first): a poller visits the businesses that wrote
// lately (a booking's confirmation to send) without leasing every open one each time. A commit
// made while fn runs is seen at the next call.
func (m *Manager) ForEachCommitted(ctx context.Context, c *Commits, fn func(*Lease) error) (done int, err error) {
	m.mu.Lock()
	seen := make(map[*DB]uint64, len(c.seen))
	var ids []string
	for id, e := range m.entries {
		if e.db == nil {
			continue
		}
		v := e.db.Version()
		if old, ok := c.seen[e.db]; !ok || old != v {
			ids = append(ids, id)
		}
		seen[e.db] = v // a handle closed since is forgotten
	}
	c.seen = seen
	m.mu.Unlock()
	return m.forEach(ctx, ids, fn)
}

// Reacquire returns a new lease on l's tenant, independent of l. A long-lived connection that
// gives l back while it waits for its client (an unauthenticated websocket holds no handle)
// takes the tenant again with it once it has reason to; ctx bounds the wait, as in Acquire.
func (l *Lease) Reacquire(ctx context.Context) (*Lease, error) {
	return l.m.Acquire(ctx, l.Tenant)
}

// closedChan is what Done returns once an exclusive operation waits for the tenant.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done returns a channel that is closed when an exclusive operation (delete, restore, a rename
// that moves the file) wants l's tenant: a holder that keeps its lease for long (a live
// websocket) watches it and gives the lease back, or Exclusive waits for it until
// Config.ExclusiveWait and fails. Short requests need not watch it: they end soon anyway.
// A lease that belongs to no Manager is never asked to go (nil channel).
func (l *Lease) Done() <-chan struct{} {
	if l.m == nil {
		return nil
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.e.exclusive != nil {
		return closedChan
	}
	if l.e.evict == nil {
		l.e.evict = make(chan struct{})
	}
	return l.e.evict
}

// evictLocked asks the holders of e's leases to give them back (see Lease.Done). Called with
// m.mu held, once e.exclusive is set.
func (m *Manager) evictLocked(e *entry) {
	if e.evict != nil {
		close(e.evict)
		e.evict = nil // leases taken after the exclusive operation get a fresh one
	}
}
