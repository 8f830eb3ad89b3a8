package tenancy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

func TestProvision(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})

	acme := tenanttest.MustProvision(t, m, "acme")
	path, err := m.Path(acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(path, "acme") {
		t.Errorf("path %s derives from the slug; it must derive from the id only", path)
	}
	if want := filepath.Join(e.Dir, "tenants", acme.ID[:2], acme.ID+".db"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("tenant file: %v", err)
	}
	got, err := e.Reg.BySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != acme.ID || got.SchemaVersion != m.LatestVersion() || got.MigrationStatus != tenancy.MigrationOK {
		t.Errorf("registry has %+v", got)
	}

	l, err := m.Acquire(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if v := version(t, l); v != m.LatestVersion() {
		t.Errorf("schema version %d, want %d", v, m.LatestVersion())
	}
	var mode string
	if err := l.DB.Read.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := l.DB.Write.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	var syncMode int
	if err := l.DB.Write.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", syncMode, err)
	}
	if _, err := l.DB.Read.Exec(`INSERT INTO sessions VALUES ('x', x'00', 1)`); err == nil {
		t.Error("the read pool accepted a write")
	}

	t.Run("ErrSlugTaken", func(t *testing.T) {
		before := countTenantFiles(t, e.Dir)
		_, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Other", Timezone: "UTC"})
		if !errors.Is(err, tenancy.ErrSlugTaken) {
			t.Fatalf("err = %v, want ErrSlugTaken", err)
		}
		if after := countTenantFiles(t, e.Dir); after != before {
			t.Errorf("a failed sign-up left a file behind: %d files, want %d", after, before)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := m.Provision(ctx, tenancy.NewTenant{Slug: "../etc", Name: " ", Timezone: "Mars/Olympus"})
		for _, want := range []string{`slug "../etc"`, "name is required", `timezone "Mars/Olympus"`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %s", err, want)
			}
		}
	})
}

func countTenantFiles(tb testing.TB, dir string) int {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "tenants", "*", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	return len(files)
}

// 100 requests arrive at once for a tenant two migrations behind: the migrations run exactly
// once, and every request sees the migrated schema.
func TestLazyMigrationRunsOnce(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	v1 := tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`)
	old := e.Manager(t, v1, tenancy.Config{})
	acme := tenanttest.MustProvision(t, old, "acme")
	other := tenanttest.MustProvision(t, old, "other")
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}

	v3 := tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`,
		`CREATE TABLE runs (step INTEGER); INSERT INTO runs VALUES (2);`,
		`INSERT INTO runs VALUES (3); ALTER TABLE notes ADD COLUMN author TEXT;`)
	m := e.Manager(t, v3, tenancy.Config{})

	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 100 {
		wg.Go(func() {
			l, err := m.Acquire(ctx, acme)
			if err != nil {
				t.Error(err)
				failures.Add(1)
				return
			}
			defer l.Release()
			// The newest column exists for every request: none ran against the old schema.
			if _, err := l.DB.Write.Exec(`INSERT INTO notes (body, author) VALUES ('hi', 'me')`); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}

	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	var runs2, runs3, notes int
	if err := l.DB.Read.QueryRow(`SELECT count(*) FILTER (WHERE step = 2), count(*) FILTER (WHERE step = 3) FROM runs`).Scan(&runs2, &runs3); err != nil {
		t.Fatal(err)
	}
	if err := l.DB.Read.QueryRow(`SELECT count(*) FROM notes`).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if runs2 != 1 || runs3 != 1 {
		t.Errorf("migration 2 ran %d times, migration 3 ran %d times; want once each", runs2, runs3)
	}
	if notes != 100 {
		t.Errorf("%d notes, want 100", notes)
	}
	if got, _ := e.Reg.Get(ctx, acme.ID); got.SchemaVersion != 3 || got.MigrationStatus != tenancy.MigrationOK {
		t.Errorf("registry mirrors version %d status %s, want 3 ok", got.SchemaVersion, got.MigrationStatus)
	}
	// A tenant nobody asked for is not migrated by someone else's request.
	if got, _ := e.Reg.Get(ctx, other.ID); got.SchemaVersion != 1 {
		t.Errorf("untouched tenant has version %d, want 1", got.SchemaVersion)
	}
}

// A migration that fails on one tenant rolls back, marks that tenant failed and leaves the
// others serving; the next attempt retries.
func TestFailedMigrationIsolated(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	v1 := tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`)
	old := e.Manager(t, v1, tenancy.Config{})
	good := tenanttest.MustProvision(t, old, "good")
	bad := tenanttest.MustProvision(t, old, "bad")
	// Someone created a table by hand on "bad", so migration 2 cannot create it there.
	l, err := old.Acquire(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Write.Exec(`CREATE TABLE widgets (x)`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	_ = old.Close(ctx)

	v2 := tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`,
		`ALTER TABLE notes ADD COLUMN author TEXT; CREATE TABLE widgets (id INTEGER PRIMARY KEY);`)
	m := e.Manager(t, v2, tenancy.Config{})

	if _, err := m.Acquire(ctx, bad); !errors.Is(err, tenancy.ErrUnavailable) {
		t.Fatalf("acquire bad: err = %v, want ErrUnavailable", err)
	}
	rec, _ := e.Reg.Get(ctx, bad.ID)
	if rec.MigrationStatus != tenancy.MigrationFailed || rec.SchemaVersion != 1 ||
		!strings.Contains(rec.LastError, "widgets already exists") {
		t.Errorf("registry: status %q version %d error %q; want failed at 1 with the error", rec.MigrationStatus, rec.SchemaVersion, rec.LastError)
	}

	gl, err := m.Acquire(ctx, good)
	if err != nil {
		t.Fatalf("a healthy tenant suffered from another's failed migration: %v", err)
	}
	if v := version(t, gl); v != 2 {
		t.Errorf("good tenant at version %d, want 2", v)
	}
	gl.Release()

	// The failed step was rolled back as a whole: the column it added first is not there.
	checkNoColumn := func() {
		path, _ := m.Path(bad.ID)
		db, err := openRaw(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'author'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Error("half of the failed migration was committed")
		}
		if _, err := db.Exec(`DROP TABLE widgets`); err != nil { // the operator's fix
			t.Fatal(err)
		}
	}
	checkNoColumn()

	// The next attempt retries, succeeds and clears the mark.
	bl, err := m.Acquire(ctx, bad)
	if err != nil {
		t.Fatalf("retry after the fix: %v", err)
	}
	if v := version(t, bl); v != 2 {
		t.Errorf("bad tenant at version %d after retry, want 2", v)
	}
	bl.Release()
	if rec, _ := e.Reg.Get(ctx, bad.ID); rec.MigrationStatus != tenancy.MigrationOK || rec.LastError != "" {
		t.Errorf("after a good retry the registry still says %q %q", rec.MigrationStatus, rec.LastError)
	}
}

// With twice as many tenants in use as the cap allows open, no more than the cap are ever open,
// and every request is still served (waiting for a slot when all are leased).
func TestHandleCap(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	const maxOpen = 4
	m := e.Manager(t, nil, tenancy.Config{MaxOpen: maxOpen})
	var ts []tenancy.Tenant
	for i := range 2 * maxOpen {
		ts = append(ts, tenanttest.MustProvision(t, m, "biz-"+string(rune('a'+i))+"x"))
	}

	stop := make(chan struct{})
	maxSeen := make(chan int)
	go func() { // samples the process's open tenant database files
		seen := 0
		for {
			select {
			case <-stop:
				maxSeen <- seen
				return
			default:
			}
			// A pass reads the links one by one while handles open and close, so it can catch a
			// closing file and its successor both: a count stands only if the next pass agrees.
			// A handle beyond the cap stays open for a whole lease (2 ms), so both passes see it.
			seen = max(seen, min(openTenantFiles(t, e.Dir), openTenantFiles(t, e.Dir)))
			time.Sleep(200 * time.Microsecond)
		}
	}()

	var wg sync.WaitGroup
	var served atomic.Int32
	for _, tn := range ts {
		wg.Go(func() {
			for range 20 {
				l, err := m.Acquire(ctx, tn)
				if err != nil {
					t.Error(err)
					return
				}
				var slug string
				// Read through both pools, so every connection of the handle is really open.
				if _, err := l.DB.Write.Exec(`INSERT INTO sessions VALUES (hex(randomblob(8)), x'00', 1)`); err != nil {
					t.Error(err)
				}
				if err := l.DB.Read.QueryRow(`SELECT ?`, l.Tenant.Slug).Scan(&slug); err != nil || slug != tn.Slug {
					t.Errorf("lease for %s serves %s (%v)", tn.Slug, slug, err)
				}
				if s := m.Stats(); s.Open > maxOpen {
					t.Errorf("%d handles open, cap %d", s.Open, maxOpen)
				}
				time.Sleep(2 * time.Millisecond)
				l.Release()
				served.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	if got := <-maxSeen; got > maxOpen || got == 0 {
		t.Errorf("at most %d tenant files were open at once, want 1..%d", got, maxOpen)
	}
	if served.Load() != int32(len(ts)*20) {
		t.Errorf("served %d, want %d", served.Load(), len(ts)*20)
	}
	if s := m.Stats(); s.Open != maxOpen || s.Idle != maxOpen {
		t.Errorf("after the load: %+v, want %d open and idle", s, maxOpen)
	}
	if n := m.CloseIdle(0); n != maxOpen {
		t.Errorf("CloseIdle closed %d, want %d", n, maxOpen)
	}
	if n := openTenantFiles(t, e.Dir); n != 0 {
		t.Errorf("%d tenant files still open after closing idle handles", n)
	}
}

// openTenantFiles counts the distinct tenant database files this process has open.
func openTenantFiles(tb testing.TB, dir string) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skip("needs /proc:", err)
	}
	files := map[string]bool{}
	prefix := filepath.Join(dir, "tenants") + "/"
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		db := strings.TrimSuffix(strings.TrimSuffix(target, "-wal"), "-shm")
		if err == nil && strings.HasPrefix(db, prefix) && strings.HasSuffix(db, ".db") {
			files[db] = true // SQLite also opens directories briefly, to sync them
		}
	}
	return len(files)
}

// Deleting a tenant waits for its in-flight work, then removes its files and registry entry.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	acme := tenanttest.MustProvision(t, m, "acme")
	keep := tenanttest.MustProvision(t, m, "keep")
	path, _ := m.Path(acme.ID)

	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Write.Exec(`INSERT INTO sessions VALUES ('tok', x'00', 1)`); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err != nil {
			t.Fatalf("before delete: %v", err)
		}
	}

	deleted := make(chan error, 1)
	go func() { deleted <- m.Delete(ctx, acme.ID) }()
	select {
	case err := <-deleted:
		t.Fatalf("delete returned (%v) while a request still held the tenant", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The in-flight request can still finish its work.
	if _, err := l.DB.Write.Exec(`INSERT INTO sessions VALUES ('tok2', x'00', 1)`); err != nil {
		t.Fatalf("in-flight work broke during delete: %v", err)
	}
	l.Release()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}

	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s%s still exists (%v)", filepath.Base(path), suffix, err)
		}
	}
	if _, err := e.Reg.Get(ctx, acme.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("registry entry: %v, want ErrNotFound", err)
	}
	if _, _, err := m.Resolve(ctx, "acme"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("resolve deleted slug: %v, want ErrNotFound", err)
	}
	if _, err := m.Acquire(ctx, acme); err == nil {
		t.Error("a deleted tenant's database could still be opened")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("opening a deleted tenant recreated its file")
	}
	// The slug is held back for the grace period.
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "New", Timezone: "UTC"}); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("re-using a just-deleted slug: %v, want ErrSlugTaken", err)
	}
	// Other tenants are untouched.
	kl, err := m.Acquire(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	kl.Release()
}

func TestRename(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.MustProvision(t, m, "taken")

	if err := m.Rename(ctx, acme.ID, "taken"); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("rename onto a taken slug: %v", err)
	}
	if err := m.Rename(ctx, acme.ID, "Bad Slug"); err == nil {
		t.Error("rename to an invalid slug was accepted")
	}
	if err := m.Rename(ctx, acme.ID, "acme-studio"); err != nil {
		t.Fatal(err)
	}
	got, _, err := m.Resolve(ctx, "acme-studio")
	if err != nil || got.ID != acme.ID {
		t.Fatalf("new slug resolves to %+v, %v", got, err)
	}
	if _, redirect, err := m.Resolve(ctx, "acme"); err != nil || redirect != "acme-studio" {
		t.Errorf("old slug: redirect %q, err %v; want acme-studio", redirect, err)
	}
}

// A renamed business's old slug is held like a deleted one's: mailed links must not reach a
// stranger's site. Only the business itself may take it back; once the grace period is over,
// another business may take it and the redirect ends. Before, the old slug was free at once.
func TestRenameHoldsOldSlug(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	acme := tenanttest.MustProvision(t, m, "acme")
	other := tenanttest.MustProvision(t, m, "other")
	if err := m.Rename(ctx, acme.ID, "acme-studio"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Stranger", Timezone: "UTC"}); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("a new business takes a just-renamed slug: %v, want ErrSlugTaken", err)
	}
	if err := m.Rename(ctx, other.ID, "acme"); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("another business renamed onto a just-renamed slug: %v, want ErrSlugTaken", err)
	}
	if _, redirect, err := m.Resolve(ctx, "acme"); err != nil || redirect != "acme-studio" {
		t.Errorf("old slug: redirect %q, err %v; want acme-studio", redirect, err)
	}
	// The business takes its old slug back; now acme-studio is held for it.
	if err := m.Rename(ctx, acme.ID, "acme"); err != nil {
		t.Fatalf("take the old slug back: %v", err)
	}
	if err := m.Rename(ctx, other.ID, "acme-studio"); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("another business renamed onto acme's previous slug: %v, want ErrSlugTaken", err)
	}
	// Past the grace period the old slug is free: a new business takes it and the redirect ends.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.Dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, `UPDATE slug_redirects SET created_at = ?`,
		time.Now().Add(-tenancy.DefaultSlugGrace-time.Hour).UTC()); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	fresh := tenanttest.MustProvision(t, m, "acme-studio")
	if got, redirect, _ := m.Resolve(ctx, "acme-studio"); redirect != "" || got.ID != fresh.ID {
		t.Errorf("old slug after the grace period: got %s redirect %q", got.ID, redirect)
	}
}

// A handle nobody has used for a while is closed; the next request reopens it.
func TestIdleHandlesClose(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	m := e.Manager(t, nil, tenancy.Config{IdleTimeout: time.Minute, Now: clock})
	a := tenanttest.MustProvision(t, m, "aaa")
	b := tenanttest.MustProvision(t, m, "bbb")
	for _, tn := range []tenancy.Tenant{a, b} {
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	now.Add(int64(2 * time.Minute))
	held, err := m.Acquire(ctx, a) // in use: never closed under its user
	if err != nil {
		t.Fatal(err)
	}
	if n := m.CloseIdle(time.Minute); n != 1 {
		t.Errorf("closed %d idle handles, want 1 (b)", n)
	}
	if err := held.DB.Read.Ping(); err != nil {
		t.Errorf("a leased handle was closed: %v", err)
	}
	held.Release()
	if s := m.Stats(); s.Open != 1 {
		t.Errorf("%d open, want 1", s.Open)
	}
	l, err := m.Acquire(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

// MigrateAll brings every tenant that is behind to the latest version, reports each one, and
// returns the one that fails without stopping the others.
func TestMigrateAll(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	old := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`), tenancy.Config{})
	var ts []tenancy.Tenant
	for _, slug := range []string{"t-one", "t-two", "t-three", "t-four", "t-bad"} {
		ts = append(ts, tenanttest.MustProvision(t, old, slug))
	}
	l, _ := old.Acquire(ctx, ts[4])
	if _, err := l.DB.Write.Exec(`CREATE TABLE widgets (x)`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	_ = old.Close(ctx)

	m := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`, `CREATE TABLE widgets (id INTEGER PRIMARY KEY)`), tenancy.Config{MaxOpen: 2})
	var reported []string
	failed, err := m.MigrateAll(ctx, 3, func(done, total int, r tenancy.MigrateResult) {
		if total != 5 || done != len(reported)+1 {
			t.Errorf("progress %d/%d after %d reports", done, total, len(reported))
		}
		reported = append(reported, r.Tenant.Slug)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reported) != 5 {
		t.Errorf("reported %v", reported)
	}
	if len(failed) != 1 || failed[0].Tenant.Slug != "t-bad" || !errors.Is(failed[0].Err, tenancy.ErrUnavailable) {
		t.Fatalf("failed = %+v", failed)
	}
	all, _ := e.Reg.List(ctx)
	for _, tn := range all {
		want := 2
		if tn.Slug == "t-bad" {
			want = 1
		}
		if tn.SchemaVersion != want {
			t.Errorf("%s at version %d, want %d", tn.Slug, tn.SchemaVersion, want)
		}
	}
	// A second run finds only the failed tenant to do.
	var again []string
	if _, err := m.MigrateAll(ctx, 1, func(_, _ int, r tenancy.MigrateResult) { again = append(again, r.Tenant.Slug) }); err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0] != "t-bad" {
		t.Errorf("second run did %v, want only t-bad", again)
	}
}

// Two processes sharing a data directory (say, a restart overlapping the old server) load the
// same spares: each spare becomes exactly one tenant, and no tenant's file is ever discarded.
func TestSparesSharedBetweenProcesses(t *testing.T) {
	synctest.Test(t, testSparesSharedBetweenProcesses)
}

func testSparesSharedBetweenProcesses(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	a := e.Manager(t, nil, tenancy.Config{Spares: 3})
	waitSpares(t, e.Reg, 3)
	b := e.Manager(t, nil, tenancy.Config{Spares: 3}) // loads the same three spares
	var made []tenancy.Tenant
	for i := range 6 {
		m := a
		if i%2 == 1 {
			m = b
		}
		made = append(made, tenanttest.MustProvision(t, m, fmt.Sprintf("shared-%d", i)))
	}
	seen := map[string]bool{}
	for _, tn := range made {
		if seen[tn.ID] {
			t.Errorf("two tenants got database %s", tn.ID)
		}
		seen[tn.ID] = true
	}
	_ = a.Close(ctx)
	_ = b.Close(ctx) // discards b's surplus spares: none of them may be a tenant's file
	for _, tn := range made {
		l, err := e.Manager(t, nil, tenancy.Config{}).Acquire(ctx, tn)
		if err != nil {
			t.Fatalf("tenant %s lost its database: %v", tn.Slug, err)
		}
		l.Release()
	}
}

// A request that gives up while its tenant migrates does not interrupt the migration, nor get
// the tenant marked failed.
func TestMigrationSurvivesCancelledRequest(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	old := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`), tenancy.Config{})
	acme := tenanttest.MustProvision(t, old, "acme")
	_ = old.Close(ctx)
	slow := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000)
		INSERT INTO notes SELECT 'x' || i FROM n;`
	m := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`, slow), tenancy.Config{})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if l, err := m.Acquire(cctx, acme); err == nil {
		l.Release() // the migration finished before the caller noticed its deadline
	}
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatalf("after a cancelled request: %v", err)
	}
	defer l.Release()
	if v := version(t, l); v != 2 {
		t.Errorf("version %d, want 2", v)
	}
	if rec, _ := e.Reg.Get(ctx, acme.ID); rec.MigrationStatus != tenancy.MigrationOK {
		t.Errorf("tenant marked %s: %s", rec.MigrationStatus, rec.LastError)
	}
}

func TestCustomHosts(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	a := tenanttest.MustProvision(t, m, "aaa")
	b := tenanttest.MustProvision(t, m, "bbb")
	for _, bad := range []string{"127.0.0.1", "localhost", "[::1]:8080", "intranet", "a.localhost", "x/y.com"} {
		if err := m.SetHost(ctx, bad, a.ID); err == nil {
			t.Errorf("SetHost(%q) accepted a host that would capture platform traffic", bad)
		}
	}
	if err := m.SetHost(ctx, "book.aaa.example", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHost(ctx, "BOOK.aaa.example.", b.ID); !errors.Is(err, tenancy.ErrHostTaken) {
		t.Errorf("taking another business's host: %v, want ErrHostTaken", err)
	}
	if err := m.RemoveHost(ctx, "book.aaa.example", b.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("removing another business's host: %v, want ErrNotFound", err)
	}
	if got, err := m.ResolveHost(ctx, "book.aaa.example"); err != nil || got.ID != a.ID {
		t.Errorf("host serves %s, %v; want aaa", got.Slug, err)
	}
	if err := m.RemoveHost(ctx, "book.aaa.example:443", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ResolveHost(ctx, "book.aaa.example"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("removed host still resolves: %v", err)
	}
}

// A deleted tenant's old slugs are held back like its current one.
func TestDeleteHoldsOldSlugs(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	acme := tenanttest.MustProvision(t, m, "acme")
	if err := m.Rename(ctx, acme.ID, "acme-studio"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"acme", "acme-studio"} {
		if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: "Stranger", Timezone: "UTC"}); !errors.Is(err, tenancy.ErrSlugTaken) {
			t.Errorf("slug %s of a just-deleted business: %v, want ErrSlugTaken", slug, err)
		}
	}
}

// A maintenance run stopped by its context (a shutdown) ends with the context's error and
// logs no tenant as failed.
func TestForEachOpenStoppedIsNotAFailure(t *testing.T) {
	var logged bytes.Buffer
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	for _, slug := range []string{"one", "two"} {
		l, err := m.Acquire(t.Context(), tenanttest.MustProvision(t, m, slug))
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	ctx, cancel := context.WithCancel(t.Context())
	done, err := m.ForEachOpen(ctx, func(*tenancy.Lease) error {
		cancel()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || done != 0 {
		t.Errorf("ForEachOpen = %d, %v; want 0, context.Canceled", done, err)
	}
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Errorf("a stopped run logged an error:\n%s", logged.String())
	}
}

// Migrating idle tenants in bulk closes each one after its visit: the handles of the tenants
// requests use stay open.
func TestBulkMigrateKeepsActiveHandles(t *testing.T) {
	e := tenanttest.NewEnv(t)
	old := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`), tenancy.Config{})
	for i := range 5 {
		tenanttest.MustProvision(t, old, fmt.Sprintf("idle-%d", i))
	}
	hot := tenanttest.MustProvision(t, old, "hot")
	_ = old.Close(context.Background())
	m := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`, `ALTER TABLE notes ADD COLUMN at TEXT`), tenancy.Config{MaxOpen: 3})
	l, err := m.Acquire(context.Background(), hot)
	if err != nil {
		t.Fatal(err)
	}
	l.Release() // open and idle, like a business between two requests
	failed, err := m.Migrate(context.Background(), 2, func(t tenancy.Tenant) bool { return t.Slug != "hot" }, nil)
	if err != nil || len(failed) != 0 {
		t.Fatalf("migrate: %v %v", failed, err)
	}
	if st := m.Stats(); st.Open != 1 || st.Idle != 1 {
		t.Errorf("after the sweep: %+v, want only the hot tenant open", st)
	}
}
