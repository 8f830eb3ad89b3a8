package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/reserva/reserva/jobs"
)

// runnableJobs are the jobs `reserva jobs run` runs, as its usage and errors name them.
var runnableJobs = []string{"sweep", "housekeeping", "stats", "mail", "replica-check"}

// cmdJobs runs one scheduled job now, as `reserva serve` would on its schedule.
func cmdJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "run" {
		return fmt.Errorf("%w: usage: reserva jobs run %s", errUsage, strings.Join(runnableJobs, "|"))
	}
	var cfg config
	name := args[1]
	fs := newFlags("jobs run "+name, &cfg, stderr, "Runs one job once: sweep (migrate idle tenants that are behind), housekeeping, stats (today's counts),\nor mail (queue due reminders and send every tenant's waiting notifications), or replica-check\n(restore a sample of tenants from --replica and check them with integrity_check).")
	idle := fs.Duration("idle", jobs.DefaultSweepIdle, "sweep: migrate tenants not seen for this long")
	workers := fs.Int("workers", 2, "sweep: tenants migrated at once")
	mail := mailFlags(fs)
	sample := fs.Int("sample", jobs.DefaultReplicaCheckSample, "replica-check: tenants restored and checked, picked at random")
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	if !slices.Contains(runnableJobs, name) {
		return fmt.Errorf("%w: unknown job %q (%s)", errUsage, name, strings.Join(runnableJobs, ", "))
	}
	if name == "replica-check" && cfg.replica == "" {
		return fmt.Errorf("%w: jobs run replica-check needs --replica URL (or RESERVA_REPLICA)", errUsage)
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
		case "replica-check":
			result, err = jobs.VerifyReplica(ctx, p.tenants, p.replica, max(*sample, 1), rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, result)
		return nil
	})
}
