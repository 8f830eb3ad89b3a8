package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

var quiet = slog.New(slog.DiscardHandler)

func migs(t *testing.T, bodies ...string) []migrations.Migration {
	fsys := fstest.MapFS{}
	for i, b := range bodies {
		fsys[fmt.Sprintf("m/%04d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(b)}
	}
	ms, err := migrations.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func manager(t *testing.T, dir string, reg tenancy.Registry, ms []migrations.Migration) *tenancy.Manager {
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Migrations: ms, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return m
}

// The sweep migrates idle tenants that are behind, leaves recently active ones to their next
// request, and skips a tenant whose migration failed, which stays marked.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	dir, reg := e.Dir, e.Reg
	v1 := migs(t, `CREATE TABLE notes (body TEXT)`)
	old := manager(t, dir, reg, v1)
	var ts []tenancy.Tenant
	for i := range 6 {
		tn, err := old.Provision(ctx, tenancy.NewTenant{Slug: fmt.Sprintf("biz-%d", i), Name: "Biz", Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tn)
	}
	// biz-5 has a hand-made table that breaks migration 2; biz-4 was busy a minute ago.
	l, _ := old.Acquire(ctx, ts[5])
	if _, err := l.DB.Write.Exec(`CREATE TABLE extra (x)`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	_ = old.Close(ctx)
	if err := reg.Touch(ctx, map[string]time.Time{ts[4].ID: time.Now().Add(-time.Minute), ts[5].ID: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	m := manager(t, dir, reg, migs(t, `CREATE TABLE notes (body TEXT)`, `CREATE TABLE extra (id INTEGER PRIMARY KEY)`))
	r, err := jobs.Sweep(ctx, m, time.Hour, 2)
	if err == nil || !strings.Contains(err.Error(), "biz-5") {
		t.Errorf("first sweep: %v; want the run failed, naming biz-5", err)
	}
	if r.Migrated != 4 || len(r.Failed) != 1 || r.Failed[0] != "biz-5" {
		t.Errorf("first sweep: %s; want 4 migrated, biz-5 failed", r)
	}
	versions := map[string]tenancy.Tenant{}
	list, _ := reg.List(ctx)
	for _, tn := range list {
		versions[tn.Slug] = tn
	}
	for i := range 4 {
		if v := versions[fmt.Sprintf("biz-%d", i)]; v.SchemaVersion != 2 {
			t.Errorf("biz-%d at version %d", i, v.SchemaVersion)
		}
	}
	if v := versions["biz-4"]; v.SchemaVersion != 1 {
		t.Errorf("the active tenant was swept: version %d", v.SchemaVersion)
	}
	if v := versions["biz-5"]; v.MigrationStatus != tenancy.MigrationFailed {
		t.Errorf("biz-5: %s", v.MigrationStatus)
	}
	// The next sweep leaves the failed tenant alone until an operator retries.
	r, err = jobs.Sweep(ctx, m, time.Hour, 2)
	if err != nil || r.Migrated != 0 || len(r.Failed) != 0 {
		t.Errorf("second sweep: %s %v; want nothing to do", r, err)
	}
	if s := m.Stats(); s.Open > 6 {
		t.Errorf("%d handles open after the sweep", s.Open)
	}
}

func TestHousekeeping(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	m := manager(t, dir, reg, nil)
	active, _ := m.Provision(ctx, tenancy.NewTenant{Slug: "active", Name: "A", Timezone: "UTC"})
	l, _ := m.Acquire(ctx, active)
	now := float64(time.Now().Unix())
	if _, err := l.DB.Write.Exec(`INSERT INTO sessions VALUES ('old', x'00', ?), ('live', x'00', ?)`, now-60, now+3600); err != nil {
		t.Fatal(err)
	}
	l.Release()
	path, _ := m.Path(active.ID)

	r, err := jobs.Housekeeping(ctx, m)
	if err != nil || r.Tenants != 1 || r.SessionsRemoved != 1 {
		t.Fatalf("%s %v; want 1 tenant, 1 session removed", r, err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("WAL after checkpoint: %v %v", fi, err)
	}
	l, _ = m.Acquire(ctx, active)
	defer l.Release()
	var left string
	if err := l.DB.Read.QueryRow(`SELECT group_concat(token) FROM sessions`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "live" {
		t.Errorf("sessions left: %q", left)
	}
}

// Housekeeping leaves a business that has only been read alone: its writer stays closed.
func TestHousekeepingSkipsReadOnlyTenants(t *testing.T) {
	m, l := openedForReading(t)
	r, err := jobs.Housekeeping(context.Background(), m)
	if err != nil || r.Tenants != 1 {
		t.Fatalf("%s %v; want 1 tenant visited", r, err)
	}
	if n := l.DB.Write.Stats().OpenConnections; n != 0 {
		t.Errorf("housekeeping opened %d writer connections of a business only read", n)
	}
}

// openedForReading provisions one business and opens it again in a new manager as a page view
// would, for reading only: its writer connection stays closed. The lease ends with the test.
func openedForReading(t *testing.T) (*tenancy.Manager, *tenancy.Lease) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Error(err)
		}
	})
	first := manager(t, dir, reg, nil)
	tn, err := first.Provision(ctx, tenancy.NewTenant{Slug: "quiet", Name: "Quiet", Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil { // provisioning wrote: start again from closed
		t.Fatal(err)
	}
	m := manager(t, dir, reg, nil)
	l, err := m.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	if _, err := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).Settings(ctx); err != nil {
		t.Fatal(err)
	}
	if n := l.DB.Write.Stats().OpenConnections; n != 0 {
		t.Fatalf("a read opened %d writer connections", n)
	}
	return m, l
}

// The scheduler runs the sweep on its own and reports each run.
func TestScheduler(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	old := manager(t, dir, reg, migs(t, `CREATE TABLE notes (body TEXT)`))
	tn, _ := old.Provision(ctx, tenancy.NewTenant{Slug: "sleepy", Name: "S", Timezone: "UTC"})
	_ = old.Close(ctx)
	m := manager(t, dir, reg, migs(t, `CREATE TABLE notes (body TEXT)`, `ALTER TABLE notes ADD COLUMN author TEXT`))

	obs := &observer{runs: map[string]int{}, ran: make(chan struct{}, 1)}
	mu, runs := &obs.mu, obs.runs
	s, err := jobs.New(m, jobs.Config{SweepEvery: 20 * time.Millisecond, HousekeepingEvery: 20 * time.Millisecond}, quiet, obs)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.Running() {
		t.Error("not running after Start")
	}
	timeout := time.After(10 * time.Second)
	for {
		got, _ := reg.Get(ctx, tn.ID)
		mu.Lock()
		done := got.SchemaVersion == 2 && runs["housekeeping"] > 0
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-obs.ran: // look again after each run
		case <-timeout:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("scheduler did not sweep: version %d, runs %v", got.SchemaVersion, runs)
		}
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Error("running after Shutdown")
	}
}

// The backup job backs up only what changed since its last backup.
func TestBackups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	u, _ := blob.FileURL(filepath.Join(dir, "blobs"))
	blobs, err := blob.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blobs.Close() }()
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet, EraseElsewhere: ops.EraseBlobs(blobs)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(ctx) }()
	a, _ := m.Provision(ctx, tenancy.NewTenant{Slug: "aaa", Name: "A", Timezone: "UTC"})
	b, err := m.Provision(ctx, tenancy.NewTenant{Slug: "bbb", Name: "B", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	// A change up to 2 s before a backup began counts as after it (file times lag the clock by
	// up to a tick, and some file systems keep whole seconds): age the provisioning's writes by
	// 3 s rather than waiting for them to age.
	old := time.Now().Add(-3 * time.Second)
	for _, tn := range []tenancy.Tenant{a, b} {
		path, err := m.Path(tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal"} {
			if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
	r, err := jobs.Backups(ctx, m, blobs, "", 7, 4, 2)
	if err != nil || r.BackedUp != 2 || len(r.Failed) != 0 {
		t.Fatalf("first run: %s %v", r, err)
	}
	// A write right after the backup: the next run must take it, however close in time.
	l, _ := m.Acquire(ctx, a)
	if _, err := l.DB.Write.Exec(`INSERT INTO sessions VALUES ('x', x'00', 1)`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	r, err = jobs.Backups(ctx, m, blobs, "", 7, 4, 2)
	if err != nil || r.BackedUp != 1 || r.Unchanged != 1 {
		t.Errorf("second run: %s %v; want aaa backed up, bbb unchanged", r, err)
	}
}

// A tenant whose file was emptied (0 bytes) is a failure of the backup run, reported and
// logged, not "unchanged": its good backups stay, and the operator learns of it from the run.
func TestBackupsReportEmptiedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	u, _ := blob.FileURL(filepath.Join(dir, "blobs"))
	blobs, err := blob.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blobs.Close() }()
	var log bytes.Buffer
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, EraseElsewhere: ops.EraseBlobs(blobs),
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(ctx) }()
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "aaa", Name: "A", Timezone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	b, err := m.Provision(ctx, tenancy.NewTenant{Slug: "bbb", Name: "B", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := jobs.Backups(ctx, m, blobs, "", 7, 4, 2); err != nil || r.BackedUp != 2 {
		t.Fatalf("first run: %s %v", r, err)
	}
	path, _ := m.Path(b.ID)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	r, err := jobs.Backups(ctx, m, blobs, "", 7, 4, 2)
	if err == nil || !strings.Contains(err.Error(), "bbb") || !slices.Equal(r.Failed, []string{"bbb"}) {
		t.Errorf("run after bbb's file was emptied: %s %v; want bbb failed, and the run's error naming it", r, err)
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "bbb") {
		t.Errorf("nothing logged at ERROR about bbb:\n%s", log.String())
	}
	if list, err := reg.Backups(ctx, b.ID); err != nil || len(list) != 1 {
		t.Errorf("bbb's backups: %d %v; want its one good backup kept", len(list), err)
	}
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	m := manager(t, dir, reg, nil)
	busy, _ := m.Provision(ctx, tenancy.NewTenant{Slug: "busy", Name: "B", Timezone: "UTC"})
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "quiet", Name: "Q", Timezone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	l, _ := m.Acquire(ctx, busy)
	now := time.Now().Unix()
	for _, q := range []string{
		`INSERT INTO staff (id, name, created_at) VALUES (1, 'Ana', 0)`,
		`INSERT INTO services (id, name, duration_min, price_currency, created_at, updated_at) VALUES (1, 'Cut', 30, 'EUR', 0, 0)`,
		`INSERT INTO customers (id, name, email, created_at) VALUES (1, 'Eva', 'eva@example.com', 0), (2, 'Tom', 'tom@example.com', 0)`,
	} {
		if _, err := l.DB.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := l.DB.Write.Exec(`INSERT INTO bookings (service_id, staff_id, customer_id, start_at, end_at, block_start, block_end,
			status, created_at, updated_at) VALUES (1, 1, 1, ?, ?, ?, ?, 'confirmed', ?, ?)`, now+int64(i)*3600, now+int64(i)*3600+1800,
			now+int64(i)*3600, now+int64(i)*3600+1800, now, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.DB.Write.Exec(`INSERT INTO booking_events (booking_id, type, actor, at) VALUES (1, 'cancelled', 'customer', ?)`, now); err != nil {
		t.Fatal(err)
	}
	l.Release()

	r, err := jobs.Stats(ctx, m, time.Now())
	if err != nil || r.Tenants != 2 {
		t.Fatalf("%s %v", r, err)
	}
	stats, _ := reg.Stats(ctx, time.Now().UTC().Format(time.DateOnly))
	if len(stats) != 2 || stats[0].Slug != "busy" || stats[0].BookingsCreated != 3 || stats[0].BookingsCancelled != 1 || stats[0].Customers != 2 {
		t.Errorf("stats %+v", stats)
	}
}

// observer records the scheduler's reports.
type observer struct {
	mu      sync.Mutex
	runs    map[string]int // successful runs by job
	backlog int
	backup  time.Time
	ran     chan struct{} // when set, told (without blocking) after each run
}

func (o *observer) JobRun(job string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.runs[job]++
	}
	if o.ran != nil {
		select {
		case o.ran <- struct{}{}:
		default:
		}
	}
}

func (o *observer) BackupRound(started time.Time) { o.mu.Lock(); o.backup = started; o.mu.Unlock() }
func (o *observer) OutboxBacklog(n int)           { o.mu.Lock(); o.backlog = n; o.mu.Unlock() }

// A tenant the stats job cannot count (here its schema has no bookings table) fails the run:
// the error names the tenant, so the scheduler logs "job failed" instead of "job done", and
// the tenants that could be counted still are.
func TestStatsReportsFailingTenant(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	dir, reg := e.Dir, e.Reg
	m := manager(t, dir, reg, nil)
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "fine", Name: "F", Timezone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	broken, err := m.Provision(ctx, tenancy.NewTenant{Slug: "broken", Name: "B", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, broken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Write.Exec(`ALTER TABLE bookings RENAME TO bookings_gone`); err != nil {
		t.Fatal(err)
	}
	l.Release()

	r, err := jobs.Stats(ctx, m, time.Now())
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Stats = %s, %v; want an error naming tenant broken", r, err)
	}
	if r.Tenants != 1 || len(r.Failed) != 1 || r.Failed[0] != "broken" {
		t.Errorf("Stats = %s; want fine counted and broken failed", r)
	}
}
