package jobs

import (
	"context"
	"fmt"

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
// when given), one at a time, then prunes each tenant's old backups to daily and weekly ones.
// A tenant that fails is reported and the others go on.
func Backups(ctx context.Context, m *tenancy.Manager, only string, daily, weekly int) (BackupResult, error) {
	var r BackupResult
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	for _, t := range all {
		if only != "" && t.Slug != only {
			continue
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		list, err := m.Registry().Backups(ctx, t.ID)
		if err != nil {
			return r, err
		}
		changed := true
		if len(list) > 0 && only == "" {
			if changed, err = m.ChangedSince(t, list[0].CreatedAt); err != nil {
				r.Failed = append(r.Failed, t.Slug)
				continue
			}
		}
		if !changed {
			r.Unchanged++
		} else if _, err := m.Backup(ctx, t); err != nil {
			r.Failed = append(r.Failed, t.Slug)
			continue
		} else {
			r.BackedUp++
		}
		n, err := m.PruneBackups(ctx, t.ID, daily, weekly)
		if err != nil {
			r.Failed = append(r.Failed, t.Slug)
		}
		r.Pruned += n
	}
	return r, nil
}
