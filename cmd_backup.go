package main

import (
	"context"
	"fmt"
	"io"

	"github.com/reserva/reserva/jobs"
)

// cmdBackup backs up every tenant changed since its last backup, or one tenant now.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("backup", &cfg, stderr, "Backs up every business changed since its last backup (or --tenant now), verifies each copy\nand prunes old backups (--keep-daily, --keep-weekly).")
	slug := fs.String("tenant", "", "back up only this business (slug), changed or not")
	daily := fs.Int("keep-daily", jobs.DefaultKeepDaily, "keep the newest backup of each of this many days")
	weekly := fs.Int("keep-weekly", jobs.DefaultKeepWeekly, "keep the newest backup of each of this many weeks")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		if *slug != "" {
			if _, err := p.reg.BySlug(ctx, *slug); err != nil {
				return fmt.Errorf("no tenant has the slug %q (see reserva tenants list)", *slug)
			}
		}
		r, err := jobs.Backups(ctx, p.tenants, p.blobs, *slug, *daily, *weekly, 2)
		fmt.Fprintf(stdout, "%s\n", r)
		if err != nil && len(r.Failed) > 0 {
			return fmt.Errorf("%d backups failed: %w", len(r.Failed), err)
		}
		return err
	})
}
