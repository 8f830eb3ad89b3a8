package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

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
// ones. A tenant that fails is reported and the others go on.
func Backups(ctx context.Context, m *tenancy.Manager, only string, daily, weekly, workers int) (BackupResult, error) {
	var r BackupResult
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	var mu sync.Mutex
	sem := make(chan struct{}, max(workers, 1))
	var wg sync.WaitGroup
	for _, t := range all {
		if only != "" && t.Slug != only {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			backedUp, pruned, err := backupOne(ctx, m, t, only != "", daily, weekly)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				r.Failed = append(r.Failed, t.Slug)
			case backedUp:
				r.BackedUp++
			default:
				r.Unchanged++
			}
			r.Pruned += pruned
		})
	}
	wg.Wait()
	return r, ctx.Err()
}

// changeMargin is how much earlier than a backup's start a change still counts as after it.
const changeMargin = 2 * time.Second

// backupOne backs up t if it changed since its last backup (or always, with force) and prunes.
func backupOne(ctx context.Context, m *tenancy.Manager, t tenancy.Tenant, force bool, daily, weekly int) (bool, int, error) {
	list, err := m.Registry().Backups(ctx, t.ID)
	if err != nil {
		return false, 0, err
	}
	changed := true
	if len(list) > 0 && !force {
		// A file that is missing or empty has not "not changed": it is lost, and Backup refuses
		// it (the tenant is marked failed, logged at ERROR, and its good backups stay).
		problem, err := m.FileProblem(t)
		if err != nil {
			return false, 0, err
		}
		// A margin: a file's modification time can read a clock tick earlier than a write made
		// just after the backup began, and such a write must not pass for already backed up.
		if problem == "" {
			if changed, err = m.ChangedSince(t, list[0].CreatedAt.Add(-changeMargin)); err != nil {
				return false, 0, err
			}
		}
	}
	if changed {
		if _, err := m.Backup(ctx, t); err != nil {
			return false, 0, err
		}
	}
	pruned, err := m.PruneBackups(ctx, t.ID, daily, weekly)
	return changed, pruned, err
}
