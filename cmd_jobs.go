package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reserva/reserva/jobs"
)

// cmdJobs runs one scheduled job now, as `reserva serve` would on its schedule.
func cmdJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "run" {
		return fmt.Errorf("%w: usage: reserva jobs run sweep|housekeeping", errUsage)
	}
	var cfg config
	name := args[1]
	fs := newFlags("jobs run "+name, &cfg, stderr, "Runs one job once: sweep (migrate idle tenants that are behind) or housekeeping.")
	idle := fs.Duration("idle", time.Hour, "sweep: migrate tenants not seen for this long")
	workers := fs.Int("workers", 2, "sweep: tenants migrated at once")
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	if name != "sweep" && name != "housekeeping" {
		return fmt.Errorf("%w: unknown job %q (sweep, housekeeping)", errUsage, name)
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		var result fmt.Stringer
		var err error
		switch name {
		case "sweep":
			result, err = jobs.Sweep(ctx, p.tenants, *idle, *workers)
		case "housekeeping":
			result, err = jobs.Housekeeping(ctx, p.tenants)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, result)
		return nil
	})
}
