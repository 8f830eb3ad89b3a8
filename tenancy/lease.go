package tenancy

import "context"

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
