package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// HousekeepingResult is what one housekeeping run did.
type HousekeepingResult struct {
	Tenants         int   // active tenants tended
	SessionsRemoved int64 // expired dashboard sessions deleted
}

func (r HousekeepingResult) String() string {
	return fmt.Sprintf("%d tenants, %d expired sessions removed", r.Tenants, r.SessionsRemoved)
}

// Housekeeping tends the active tenants (those with an open database): it deletes expired
// sessions, lets SQLite refresh its query planner statistics (PRAGMA optimize) and folds the WAL
// back into the database (wal_checkpoint(TRUNCATE)) so it does not grow without bound. Idle
// tenants need none of it: their databases were checkpointed when they closed. Neither do open
// tenants that have only been read (tenancy.DB.Untouched).
func Housekeeping(ctx context.Context, m *tenancy.Manager) (HousekeepingResult, error) {
	return housekeeping(ctx, m, nil)
}

// housekeeping is Housekeeping over the open tenants owns has.
func housekeeping(ctx context.Context, m *tenancy.Manager, owns Owns) (HousekeepingResult, error) {
	var r HousekeepingResult
	skipped := 0
	n, err := m.ForEachOpen(ctx, func(l *tenancy.Lease) error {
		if !owns.has(ctx, l.Tenant.ID) {
			skipped++ // open here, owned elsewhere now: its owner tends it
			return nil
		}
		if l.DB.Untouched() {
			return nil
		}
		removed, err := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).DeleteExpiredSessions(ctx)
		if err != nil {
			return err
		}
		r.SessionsRemoved += removed
		if _, err := l.DB.Write.ExecContext(ctx, `PRAGMA optimize`); err != nil {
			return fmt.Errorf("optimize: %w", err)
		}
		if err := l.DB.Checkpoint(ctx); err != nil { // through the replica when replicated
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	})
	r.Tenants = n - skipped
	return r, err
}
