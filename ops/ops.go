// Package ops is the operator's work on whole tenants: backups (an online copy, checked,
// compressed into the blob store, pruned to daily and weekly ones), restores (in place, or
// into a new business without the source's secrets) and the GDPR export. It reaches a
// tenant's live database only through tenancy's leases and exclusive operations (its own
// files are scratch copies, named so that tenancy's erasure finds them). Bulk work runs
// beside live requests: one export at a time, paced to a share of a core, on threads at the
// lowest CPU priority.
package ops

import (
	"context"

	"github.com/reserva/reserva/tenancy"
)

// Service backs up, restores and exports the tenants of a Manager, through the Manager's
// leases (Acquire, Visit) and exclusive operations (Exclusive), with the Manager's blob store,
// clock and logger.
type Service struct {
	m   *tenancy.Manager
	reg tenancy.Registry
	cfg tenancy.Config
}

// New returns the Service over m. It holds no state of its own: making one per use is cheap.
func New(m *tenancy.Manager) *Service {
	return &Service{m: m, reg: m.Registry(), cfg: m.Config()}
}

// Backups lists tenant tenantID's backups, newest first.
func (s *Service) Backups(ctx context.Context, tenantID string) ([]tenancy.Backup, error) {
	return s.reg.Backups(ctx, tenantID)
}
