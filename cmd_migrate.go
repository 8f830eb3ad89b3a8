package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/reserva/reserva/tenancy"
)

// cmdMigrate brings every tenant that is behind (or whose migration failed) to the latest
// schema now.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("migrate", &cfg, stderr, "Brings every business whose database is behind (or whose last migration failed)\nto the latest schema now, instead of on its next request.")
	workers := fs.Int("workers", 2, "tenants migrated at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 {
		return fmt.Errorf("%w: --workers must be between 1 and 64", errUsage)
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		var bar *progressbar.ProgressBar
		failed, err := p.tenants.MigrateAll(ctx, *workers, func(_, total int, _ tenancy.MigrateResult) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("migrating"), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
			}
			_ = bar.Add(1) // the bar is decoration: the results are counted below
		})
		if bar != nil {
			_ = bar.Finish()
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		if bar == nil {
			fmt.Fprintf(stdout, "Every tenant is at schema version %d.\n", p.tenants.LatestVersion())
			return nil
		}
		fmt.Fprintf(stdout, "Migrated %d tenants to schema version %d; %d failed.\n",
			bar.GetMax()-len(failed), p.tenants.LatestVersion(), len(failed))
		for _, f := range failed {
			fmt.Fprintf(stdout, "  %s: %v\n", f.Tenant.Slug, f.Err)
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d tenants failed to migrate; they stay marked and unavailable until fixed (see reserva tenants list)", len(failed))
		}
		return nil
	})
}
