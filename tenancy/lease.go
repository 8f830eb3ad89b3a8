package tenancy

import "context"

// Reacquire returns a new lease on l's tenant, independent of l. A long-lived connection that
// gives l back while it waits for its client (an unauthenticated websocket holds no handle)
// takes the tenant again with it once it has reason to; ctx bounds the wait, as in Acquire.
func (l *Lease) Reacquire(ctx context.Context) (*Lease, error) {
	return l.m.Acquire(ctx, l.Tenant)
}
