// Package jobs runs Reserva's scheduled work with gocron: the migration sweep, housekeeping,
// backups (through ops), notifications (mail and reminders) and daily stats. Every job enters
// one tenant at a time through the tenancy layer, never holds more tenants open than the
// handle cap allows, and one tenant's failure never stops the others. Each job is also a
// function the CLI can run once.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// Config sets how often jobs run. Zero values take the defaults.
type Config struct {
	SweepEvery time.Duration // default DefaultSweepEvery
	// SweepIdle: migrate tenants not seen for this long; default DefaultSweepIdle.
	SweepIdle         time.Duration
	SweepWorkers      int           // tenants migrated at once; default DefaultSweepWorkers
	HousekeepingEvery time.Duration // default DefaultHousekeepingEvery
	BackupEvery       time.Duration // default DefaultBackupEvery (changed tenants only)
	// Backups kept: the newest of each of the last KeepDaily days (default DefaultKeepDaily)
	// and of the last KeepWeekly ISO weeks (default DefaultKeepWeekly).
	KeepDaily  int
	KeepWeekly int
	Mail       MailConfig // how notifications go out (nil Mailer: not sent)
	// NewMailEvery is how often the businesses that wrote anything since are checked for mail to
	// send (a booking's confirmation); default DefaultNewMailEvery. Every open business is
	// checked every minute besides.
	NewMailEvery time.Duration
	// Replica, when set (--replica), is restored from every ReplicaCheckEvery (default
	// DefaultReplicaCheckEvery) for a sample of ReplicaCheckSample tenants (default
	// DefaultReplicaCheckSample), each checked with integrity_check (VerifyReplica).
	Replica            ops.ReplicaSource
	ReplicaCheckEvery  time.Duration
	ReplicaCheckSample int
	Blobs              blob.Store // where backups go (nil: each tenant's backup fails with ops.ErrNoBlobStore)
	// Owns, when set (serve --cluster), says whether this node owns a business in its current
	// epoch: every per-business job visits only those, so that across the cluster each runs
	// exactly once per business, on its owner. Nil: a single node, which owns them all.
	Owns Owns
}

// Defaults of Config, also the defaults of the command line's flags for the same settings.
const (
	DefaultSweepEvery        = 10 * time.Minute
	DefaultSweepIdle         = time.Hour
	DefaultSweepWorkers      = 4 // much of a migration waits on the disk
	DefaultHousekeepingEvery = time.Hour
	DefaultBackupEvery       = 6 * time.Hour
	DefaultKeepDaily         = 7
	DefaultKeepWeekly        = 4
	DefaultNewMailEvery      = 2 * time.Second
)

// Scheduler runs the jobs inside `reserva serve`.
type Scheduler struct {
	cron    gocron.Scheduler
	running atomic.Bool
	jobs    map[string]func(context.Context) (string, error)
}

// Observer hears what the jobs did, for metrics. Nil is allowed.
type Observer interface {
	JobRun(job string, err error)
	// BackupRound: a backup run that started at started backed up every tenant changed since
	// its previous backup, so every tenant's newest backup holds its data as of started.
	BackupRound(started time.Time)
	// OutboxBacklog: messages waiting to be sent, over all tenants.
	OutboxBacklog(n int)
}

// New registers the jobs on a gocron scheduler; Start runs them.
func New(m *tenancy.Manager, cfg Config, log *slog.Logger, obs Observer) (*Scheduler, error) {
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.SweepIdle <= 0 {
		cfg.SweepIdle = DefaultSweepIdle
	}
	if cfg.SweepWorkers <= 0 {
		cfg.SweepWorkers = DefaultSweepWorkers
	}
	if cfg.HousekeepingEvery <= 0 {
		cfg.HousekeepingEvery = DefaultHousekeepingEvery
	}
	if cfg.BackupEvery <= 0 {
		cfg.BackupEvery = DefaultBackupEvery
	}
	if cfg.KeepDaily <= 0 {
		cfg.KeepDaily = DefaultKeepDaily
	}
	if cfg.KeepWeekly <= 0 {
		cfg.KeepWeekly = DefaultKeepWeekly
	}
	cron, err := gocron.NewScheduler(gocron.WithStopTimeout(30 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("job scheduler: %w", err)
	}
	if cfg.NewMailEvery <= 0 {
		cfg.NewMailEvery = DefaultNewMailEvery
	}
	var commits tenancy.Commits // the commits the new-mail job has seen
	jobs := []struct {
		name  string
		every time.Duration
		run   func(context.Context) (string, error)
	}{
		{"migration-sweep", cfg.SweepEvery, func(ctx context.Context) (string, error) {
			r, err := sweep(ctx, m, cfg.SweepIdle, cfg.SweepWorkers, cfg.Owns)
			return r.String(), err
		}},
		{"housekeeping", cfg.HousekeepingEvery, func(ctx context.Context) (string, error) {
			r, err := housekeeping(ctx, m, cfg.Owns)
			return r.String(), err
		}},
		{"stats", 6 * time.Hour, func(ctx context.Context) (string, error) {
			// Yesterday's final counts, and today's so far.
			var out string
			for _, day := range []time.Time{time.Now().UTC().AddDate(0, 0, -1), time.Now().UTC()} {
				r, err := stats(ctx, m, day, cfg.Owns)
				if err != nil {
					return out, err
				}
				out += r.String() + "; "
			}
			return out, nil
		}},
		{"mail", time.Minute, func(ctx context.Context) (string, error) {
			if cfg.Mail.Mailer == nil {
				return "no mailer", nil
			}
			r, err := deliverMail(ctx, m, cfg.Mail, false, cfg.Owns)
			return r.String(), err
		}},
		{"new-mail", cfg.NewMailEvery, func(ctx context.Context) (string, error) {
			if cfg.Mail.Mailer == nil {
				return "", nil
			}
			r, err := deliverNewMail(ctx, m, cfg.Mail, &commits, cfg.Owns)
			if r.Sent == 0 && r.Failed == 0 {
				return "", err // most runs find nothing: not worth a log line every two seconds
			}
			return r.String(), err
		}},
		{"reminders", 15 * time.Minute, func(ctx context.Context) (string, error) {
			if cfg.Mail.Mailer == nil {
				return "no mailer", nil
			}
			r, err := deliverMail(ctx, m, cfg.Mail, true, cfg.Owns)
			if err == nil && obs != nil {
				obs.OutboxBacklog(r.Backlog) // every tenant was visited
			}
			return r.String(), err
		}},
		{"backups", cfg.BackupEvery, func(ctx context.Context) (string, error) {
			started := time.Now()
			r, err := backups(ctx, m, cfg.Blobs, "", cfg.KeepDaily, cfg.KeepWeekly, 2, cfg.Owns)
			if err == nil && obs != nil {
				obs.BackupRound(started)
			}
			return r.String(), err
		}},
	}
	if cfg.Replica != nil {
		jobs = append(jobs, replicaCheckJob(cfg, m, obs))
	}
	byName := map[string]func(context.Context) (string, error){}
	for _, j := range jobs {
		byName[j.name] = j.run
		task := func(ctx context.Context) {
			start := time.Now()
			summary, err := j.run(ctx)
			if obs != nil {
				obs.JobRun(j.name, err)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				log.ErrorContext(ctx, "job failed", "job", j.name, "took", time.Since(start), "err", err)
				return
			}
			level := slog.LevelInfo
			if summary == "" {
				level = slog.LevelDebug // a run with nothing to report
			}
			log.Log(ctx, level, "job done", "job", j.name, "took", time.Since(start), "result", summary)
		}
		_, err := cron.NewJob(gocron.DurationJob(j.every), gocron.NewTask(task),
			gocron.WithName(j.name), gocron.WithSingletonMode(gocron.LimitModeReschedule))
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.name, err)
		}
	}
	return &Scheduler{cron: cron, jobs: byName}, nil
}

// Run runs the job called name once, now, beside its schedule, and returns its summary.
func (s *Scheduler) Run(ctx context.Context, name string) (string, error) {
	run, ok := s.jobs[name]
	if !ok {
		return "", fmt.Errorf("no job called %q", name)
	}
	return run(ctx)
}

// Owns says whether this node owns the business tenantID in its current epoch (Config.Owns).
type Owns func(ctx context.Context, tenantID string) bool

// has is o's answer for tenantID; a nil Owns owns every business.
func (o Owns) has(ctx context.Context, tenantID string) bool {
	return o == nil || o(ctx, tenantID)
}

// Start runs the jobs on their schedules.
func (s *Scheduler) Start() {
	s.cron.Start()
	s.running.Store(true)
}

// Running reports whether the scheduler runs (for readiness).
func (s *Scheduler) Running() bool { return s.running.Load() }

// Shutdown stops scheduling, cancels running jobs' contexts and waits for them to return. It is
// safe to call more than once.
func (s *Scheduler) Shutdown() error {
	if !s.running.CompareAndSwap(true, false) {
		return nil
	}
	return s.cron.Shutdown()
}
