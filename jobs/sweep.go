package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// SweepResult is what one migration sweep did.
type SweepResult struct {
	Migrated int
	Failed   []string // slugs
}

func (r SweepResult) String() string {
	return fmt.Sprintf("%d migrated, %d failed %v", r.Migrated, len(r.Failed), r.Failed)
}

// Sweep migrates the tenants whose schema is behind and that nobody has used for idle, so they
// find it done when they come back; active tenants migrate on their next request anyway.
// Tenants marked failed are skipped until an operator retries (reserva migrate). At most workers
// tenants migrate at once.
func Sweep(ctx context.Context, m *tenancy.Manager, idle time.Duration, workers int) (SweepResult, error) {
	return sweep(ctx, m, idle, workers, nil)
}

// sweep is Sweep over the tenants owns has.
func sweep(ctx context.Context, m *tenancy.Manager, idle time.Duration, workers int, owns Owns) (SweepResult, error) {
	cutoff := time.Now().Add(-idle)
	var r SweepResult
	failed, err := m.Migrate(ctx, workers, func(t tenancy.Tenant) bool {
		return t.SchemaVersion < m.LatestVersion() && t.MigrationStatus == tenancy.MigrationOK &&
			(t.LastSeenAt.IsZero() || t.LastSeenAt.Before(cutoff)) && owns.has(ctx, t.ID)
	}, func(_, _ int, res tenancy.MigrateResult) {
		if res.Err == nil {
			r.Migrated++
		}
	})
	errs := []error{err}
	for _, f := range failed {
		r.Failed = append(r.Failed, f.Tenant.Slug)
		errs = append(errs, fmt.Errorf("migrate tenant %s: %w", f.Tenant.Slug, f.Err))
	}
	// A failed tenant fails the run: the scheduler must not log it as done.
	return r, errors.Join(errs...)
}
