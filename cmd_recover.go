package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/reserva/reserva/internal/logctx"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// restoreMissingFrom is tenancy.Config.RestoreMissing over rep: a tenant's newest copy.
func restoreMissingFrom(rep *replica.Replicator) func(ctx context.Context, t tenancy.Tenant, dst string) error {
	return func(ctx context.Context, t tenancy.Tenant, dst string) error {
		err := rep.Restore(ctx, replica.TenantName(t.ID), dst, time.Time{})
		if errors.Is(err, replica.ErrNotFound) {
			return errors.Join(err, tenancy.ErrNoReplicaCopy)
		}
		return err
	}
}

// openReplicaSource opens the replica at url to restore from, without replicating anything
// from this process (a server beside it may be shipping the same databases). Litestream's own
// chatter stays below warnings.
func openReplicaSource(ctx context.Context, url string, stderr io.Writer) (*replica.Replicator, error) {
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	rep, err := replica.Open(ctx, url, replica.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return rep, nil
}

// parseReplicaTime reads --at for a restore from the replica: RFC 3339, or a date and time in
// UTC ("2026-12-03 14:05:00", "2026-12-03T14:05:00"); "" is the newest copy.
func parseReplicaTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateTime, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: --at %q is not a time: use RFC 3339 (2026-12-03T14:05:00Z) or \"2026-12-03 14:05:00\" (UTC)", errUsage, s)
}

// restoreRegistry writes the registry's copy in rep (as of at) into dataDir/registry.db. An
// existing registry is set aside beside it (its path returned), whole with its WAL. The copy is
// checked with integrity_check before anything changes. The caller holds the data directory's
// lock.
func restoreRegistry(ctx context.Context, rep *replica.Replicator, dataDir string, at time.Time) (safety string, err error) {
	path := filepath.Join(dataDir, "registry.db")
	tmp := path + ".restore-" + strings.ToLower(rand.Text()[:10])
	if err := rep.Restore(ctx, replica.RegistryName, tmp, at); err != nil {
		if errors.Is(err, replica.ErrNotFound) {
			return "", fmt.Errorf("the replica %s holds no registry (as of the time asked): check --replica", rep)
		}
		return "", fmt.Errorf("restore the registry: %w", err)
	}
	defer func() { _ = os.Remove(tmp) }() // gone once renamed into place
	if _, err := os.Stat(path); err == nil {
		safety = fmt.Sprintf("%s.replaced-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, safety+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("set aside the registry: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("put the restored registry in place: %w", err)
	}
	// The replicator's local state described the registry set aside: it starts afresh.
	if err := os.RemoveAll(filepath.Join(dataDir, ".registry.db-litestream")); err != nil {
		return "", fmt.Errorf("restore the registry: %w", err)
	}
	return safety, tenancy.SyncDir(dataDir)
}

// cmdRecover rebuilds a data directory that was lost from the replica alone.
func cmdRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("recover", &cfg, stderr, "Rebuilds a lost data directory from the replica: the registry first, then every business,\n"+
		"either now (--eager, with a progress bar) or each the first time it is opened by\n"+
		"reserva serve --replica URL.")
	eager := fs.Bool("eager", false, "restore every business now instead of on first open")
	workers := fs.Int("workers", 8, "businesses restored at once with --eager (each mostly waits on the store)")
	if err := parse(fs, args, "replica"); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 {
		return fmt.Errorf("%w: --workers must be between 1 and 64", errUsage)
	}
	unlock, err := lockDataDir(cfg.data)
	if err != nil {
		return fmt.Errorf("%w: stop the server first", err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(cfg.data, "registry.db")); err == nil {
		return fmt.Errorf("%s already has a registry: recover rebuilds a data directory that is gone. "+
			"To replace only the registry, run reserva restore --registry --from-replica", cfg.data)
	}
	rep, err := openReplicaSource(ctx, cfg.replica, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = closeReplica(rep) }() // nothing attached: nothing to ship
	start := time.Now()
	if _, err := restoreRegistry(ctx, rep, cfg.data, time.Time{}); err != nil {
		return err
	}
	// This process only restores: it replicates nothing itself.
	cfg.replica = ""
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		ts, err := p.reg.List(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Registry restored from %s: %d businesses (%s)\n", rep, len(ts), time.Since(start).Round(time.Millisecond))
		if !*eager {
			fmt.Fprintf(stdout, "Each business is restored from the replica the first time it is opened. Start the server with the replica:\n"+
				"  reserva serve --data %s --replica '%s'\n", cfg.data, rep)
			return nil
		}
		return recoverTenants(ctx, p, rep, ts, *workers, start, stdout, stderr)
	})
}

// recoverTenants restores every tenant in ts from rep, workers at a time, with a progress bar,
// and reports the time and throughput. A tenant that fails is named and the others go on.
func recoverTenants(ctx context.Context, p *platform, rep *replica.Replicator, ts []tenancy.Tenant, workers int, start time.Time, stdout, stderr io.Writer) error {
	bar := progressbar.NewOptions(len(ts), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("restoring"), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
	restore := restoreMissingFrom(rep)
	var mu sync.Mutex
	var total int64
	var failed []error
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, t := range ts {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, err := p.tenants.RestoreMissingFile(ctx, t, restore)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", t.Slug, err))
			}
			_ = bar.Add(1) // only draws
		})
	}
	wg.Wait()
	_ = bar.Finish() // only draws
	fmt.Fprintln(stderr)
	if err := ctx.Err(); err != nil {
		return err
	}
	took := time.Since(start)
	mb := float64(total) / (1 << 20)
	fmt.Fprintf(stdout, "Recovered the registry and %d of %d businesses, %.1f MB in %s (%.1f MB/s)\n",
		len(ts)-len(failed), len(ts), mb, took.Round(time.Millisecond), mb/max(took.Seconds(), 1e-3))
	if len(failed) > 0 {
		return fmt.Errorf("%d businesses could not be restored (a business the replica holds no copy of "+
			"was not opened while replication was on; restore it from a backup):\n%w", len(failed), errors.Join(failed...))
	}
	return nil
}
