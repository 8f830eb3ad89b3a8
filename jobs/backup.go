package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// BackupResult is what one backup run did.
type BackupResult struct {
	BackedUp  int
	Unchanged int
	Pruned    int
	Failed    []string // slugs
}

func (r BackupResult) String() string {
	return fmt.Sprintf("%d backed up, %d unchanged, %d old backups pruned, %d failed %v",
		r.BackedUp, r.Unchanged, r.Pruned, len(r.Failed), r.Failed)
}

// Backups backs up every tenant changed since its last backup (or only the one with slug only,
// when given), workers at a time, then prunes each tenant's old backups to daily and weekly
// ones. A tenant that fails is reported and the others go on; the failures are returned
// joined, each naming its tenant.
func Backups(ctx context.Context, m *tenancy.Manager, blobs blob.Store, only string, daily, weekly, workers int) (BackupResult, error) {
	return backups(ctx, m, blobs, only, daily, weekly, workers, nil)
}

// backups is Backups over the tenants owns has.
func backups(ctx context.Context, m *tenancy.Manager, blobs blob.Store, only string, daily, weekly, workers int, owns Owns) (BackupResult, error) {
	var r BackupResult
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	o := ops.New(m, blobs)
	var mu sync.Mutex
	var failed []error
	sem := make(chan struct{}, max(workers, 1))
	var wg sync.WaitGroup
	for _, t := range all {
		if (only != "" && t.Slug != only) || !owns.has(ctx, t.ID) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			backedUp, pruned, err := backupOne(ctx, o, t, only != "", daily, weekly)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				r.Failed = append(r.Failed, t.Slug)
				failed = append(failed, fmt.Errorf("back up tenant %s: %w", t.Slug, err))
			case backedUp:
				r.BackedUp++
			default:
				r.Unchanged++
			}
			r.Pruned += pruned
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, errors.Join(failed...)
}

// changeMargin is how much earlier than a backup's start a change still counts as after it.
const changeMargin = 2 * time.Second

// backupOne backs up t if it changed since its last backup (or always, with force) and prunes.
func backupOne(ctx context.Context, o *ops.Service, t tenancy.Tenant, force bool, daily, weekly int) (bool, int, error) {
	list, err := o.Backups(ctx, t.ID)
	if err != nil {
		return false, 0, err
	}
	changed := true
	if len(list) > 0 && !force {
		// A margin: a file's modification time can read a clock tick earlier than a write made
		// just after the backup began, and such a write must not pass for already backed up.
		if changed, err = o.ChangedSince(t, list[0].CreatedAt.Add(-changeMargin)); err != nil {
			return false, 0, err
		}
	}
	if changed {
		if _, err := o.Backup(ctx, t); err != nil {
			return false, 0, err
		}
	}
	pruned, err := o.PruneBackups(ctx, t.ID, daily, weekly)
	return changed, pruned, err
}
