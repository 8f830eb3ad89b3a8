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
	"fmt"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/tenancy"
)

// Service backs up, restores and exports the tenants of a Manager, through the Manager's
// leases (Acquire, Visit) and exclusive operations (Exclusive), with the Manager's clock and
// logger and a blob store the Manager knows nothing of.
type Service struct {
	m   *tenancy.Manager
	reg tenancy.Registry
	cfg config
}

// config is the Manager's configuration plus the blob store backups go to (nil: backups are
// not available; exports need none).
type config struct {
	tenancy.Config
	Blobs blob.Store
}

// New returns the Service over m, keeping backups in blobs (nil when only exporting). It
// holds no state of its own: making one per use is cheap.
func New(m *tenancy.Manager, blobs blob.Store) *Service {
	return &Service{m: m, reg: m.Registry(), cfg: config{Config: m.Config(), Blobs: blobs}}
}

// EraseBlobs returns the erasure of a deleted tenant's blobs (its backups and uploads, all
// under "<id>/"), for tenancy.Config.EraseElsewhere, so that deleting a business removes
// every copy of it. A nil store has nothing to erase.
func EraseBlobs(blobs blob.Store) func(ctx context.Context, id string) error {
	return func(ctx context.Context, id string) error {
		if blobs == nil {
			return nil
		}
		if _, err := blobs.DeletePrefix(ctx, id+"/"); err != nil {
			return fmt.Errorf("erase blobs of tenant %s: %w", id, err)
		}
		return nil
	}
}

// Backups lists tenant tenantID's backups, newest first.
func (s *Service) Backups(ctx context.Context, tenantID string) ([]tenancy.Backup, error) {
	return s.reg.Backups(ctx, tenantID)
}
