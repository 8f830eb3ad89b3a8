package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reserva/reserva/jobs"
)

// runnableJobs are the jobs `reserva jobs run` runs, as its usage and errors name them.
var runnableJobs = []string{"sweep", "housekeeping", "stats", "mail"}

// cmdJobs runs one scheduled job now, as `reserva serve` would on its schedule.
func cmdJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "run" {
		return fmt.Errorf("%w: usage: reserva jobs run %s", errUsage, strings.Join(runnableJobs, "|"))
	}
	var cfg config
	name := args[1]
	fs := newFlags("jobs run "+name, &cfg, stderr, "Runs one job once: sweep (migrate idle tenants that are behind), housekeeping, stats (today's counts),\nor mail (queue due reminders and send every tenant's waiting notifications).")
	idle := fs.Duration("idle", jobs.DefaultSweepIdle, "sweep: migrate tenants not seen for this long")
	workers := fs.Int("workers", 2, "sweep: tenants migrated at once")
	mail := mailFlags(fs)
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	if !slices.Contains(runnableJobs, name) {
		return fmt.Errorf("%w: unknown job %q (%s)", errUsage, name, strings.Join(runnableJobs, ", "))
	}
	if *mail.baseURL == "" {
		*mail.baseURL = "http://127.0.0.1:8080"
	}
	mailCfg, err := mail.config(cfg.data)
	if err != nil {
		return err
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		var result fmt.Stringer
		var err error
		switch name {
		case "sweep":
			result, err = jobs.Sweep(ctx, p.tenants, *idle, *workers)
		case "housekeeping":
			result, err = jobs.Housekeeping(ctx, p.tenants)
		case "stats":
			result, err = jobs.Stats(ctx, p.tenants, time.Now())
		case "mail":
			result, err = jobs.DeliverMail(ctx, p.tenants, mailCfg, true)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, result)
		return nil
	})
}

// cmdStats shows the cross-tenant daily counts.
func cmdStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("stats", &cfg, stderr, "Shows each business's bookings created and cancelled and its customers on a day (UTC),\nas counted by the stats job (reserva jobs run stats counts today now).")
	day := fs.String("day", time.Now().UTC().Format(time.DateOnly), "the day, YYYY-MM-DD")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := time.Parse(time.DateOnly, *day); err != nil {
		return fmt.Errorf("%w: --day %q is not a date like 2026-03-29", errUsage, *day)
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		stats, err := p.reg.Stats(ctx, *day)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tBOOKINGS CREATED\tCANCELLED\tCUSTOMERS")
		var created, cancelled int
		for _, s := range stats {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s.Slug, s.BookingsCreated, s.BookingsCancelled, s.Customers)
			created, cancelled = created+s.BookingsCreated, cancelled+s.BookingsCancelled
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write the stats: %w", err)
		}
		fmt.Fprintf(stdout, "\n%s: %d businesses, %d bookings created, %d cancelled\n", *day, len(stats), created, cancelled)
		return nil
	})
}
