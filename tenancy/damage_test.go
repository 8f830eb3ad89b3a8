package tenancy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// logBuffer collects a Manager's log lines (written from several goroutines).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countNotes serves GET /{slug}/ by reading every row of notes; a server error goes through
// tenancy.Fault as the web package's serverError does.
func errorPage(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	http.Error(w, fmt.Sprintf("error %d", status), status)
}

func countNotes(w http.ResponseWriter, r *http.Request) {
	l, ok := tenancy.FromContext(r.Context())
	if !ok {
		http.NotFound(w, r)
		return
	}
	var n, size int
	err := l.DB.Read.QueryRowContext(r.Context(), `SELECT count(*), coalesce(sum(length(body)), 0) FROM notes`).Scan(&n, &size)
	if err != nil {
		if tenancy.Fault(r.Context(), err) || tenancy.IsFault(err) {
			w.Header().Set("Retry-After", "30")
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write([]byte("ok"))
}

// A tenant file that is missing, empty or behind the registry's schema version is a fault: the
// tenant answers 503 with Retry-After, is logged at ERROR and marked failed in the registry,
// its file is never migrated from zero, and a backup refuses to copy it over the good ones.
func TestDamagedTenantFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		reason string
	}{
		{"Empty", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
		{"Missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "is missing"},
		{"Behind", func(t *testing.T, path string) {
			// Another database at an older version put in its place (a stale copy).
			db, err := openRaw(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			if _, err := db.Exec(`DELETE FROM schema_migrations`); err != nil {
				t.Fatal(err)
			}
		}, "at schema version 0 but the registry recorded 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e, m, blobDir := tenanttest.BackupEnv(t, nil)
			acme := tenanttest.MustProvision(t, m, "acme")
			tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('kept')`)
			good, err := ops.New(m, e.Blobs).Backup(ctx, acme)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Close(ctx); err != nil {
				t.Fatal(err)
			}
			path, _ := m.Path(acme.ID)
			for _, s := range []string{"-wal", "-shm"} {
				if err := os.Remove(path + s); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			c.damage(t, path)
			before, _ := os.ReadFile(path)

			logs := &logBuffer{}
			blobs := tenanttest.OpenBlobs(t, blobDir)
			m2 := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
				CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`),
				tenancy.Config{EraseElsewhere: ops.EraseBlobs(blobs), Logger: slog.New(slog.NewTextHandler(logs, nil))})
			srv := httptest.NewServer(web.TenantMiddleware(m2, web.FairShare{}, http.HandlerFunc(countNotes), errorPage))
			defer srv.Close()

			for i := range 2 { // the second is refused without looking at the file again
				code, body, h := get(t, srv.Client(), srv.URL+"/acme/", "")
				if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
					t.Fatalf("request %d: %d %q Retry-After %q, want 503 with Retry-After", i, code, body, h.Get("Retry-After"))
				}
			}
			if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "tenant=acme") ||
				!strings.Contains(out, c.reason) {
				t.Errorf("log does not say at ERROR what is wrong with acme (%q):\n%s", c.reason, out)
			}
			got, err := e.Reg.Get(ctx, acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.MigrationStatus != tenancy.MigrationFailed || !strings.Contains(got.LastError, c.reason) || got.SchemaVersion != 1 {
				t.Errorf("registry: %s %q version %d; want failed, saying %q, version kept at 1",
					got.MigrationStatus, got.LastError, got.SchemaVersion, c.reason)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Errorf("the damaged file was changed (%d bytes, was %d): migrated from zero?", len(after), len(before))
			}

			if _, err := ops.New(m2, blobs).Backup(ctx, got); err == nil {
				t.Error("a damaged tenant was backed up")
			}
			list, err := e.Reg.Backups(ctx, acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ID != good.ID {
				t.Errorf("backups %v, want only the good one %s", list, good.ID)
			}

			// Restoring the good backup serves the tenant again.
			if _, _, err := ops.New(m2, blobs).Restore(ctx, got, good.ID); err != nil {
				t.Fatal(err)
			}
			m3 := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
				CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`), tenancy.Config{EraseElsewhere: ops.EraseBlobs(blobs)})
			got, _ = e.Reg.Get(ctx, acme.ID)
			if n := tenanttest.Notes(t, m3, got); len(n) != 1 || n[0] != "kept" {
				t.Errorf("after restore: %v", n)
			}
		})
	}
}

// damagePage overwrites the database page that holds the root of table in the file at path
// with random bytes, as a failing disk would.
func damagePage(t *testing.T, path, table string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var page, size int64
	err = db.QueryRow(`SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_schema WHERE name = ?`, table).Scan(&page, &size)
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	junk := make([]byte, size)
	rand.Read(junk)
	if _, err := f.WriteAt(junk, (page-1)*size); err != nil {
		t.Fatal(err)
	}
}

// A damaged page (SQLITE_CORRUPT on a request) marks the tenant failed, and it stays unserved
// (503) until its file passes a check again, in this process and after a restart.
func TestCorruptPageMarksTenantFailed(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	tick := func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	e, m, blobDir := tenanttest.BackupEnv(t, tick)
	acme := tenanttest.MustProvision(t, m, "acme")
	other := tenanttest.MustProvision(t, m, "other")
	for i := range 200 {
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES (?)`, strings.Repeat("x", 100+i))
	}
	tenanttest.Exec(t, m, acme, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	path, _ := m.Path(acme.ID)
	damagePage(t, path, "notes")

	logs := &logBuffer{}
	ms := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
		CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`)
	blobs := tenanttest.OpenBlobs(t, blobDir)
	m2 := e.Manager(t, ms, tenancy.Config{EraseElsewhere: ops.EraseBlobs(blobs), Now: tick,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv := httptest.NewServer(web.TenantMiddleware(m2, web.FairShare{}, http.HandlerFunc(countNotes), errorPage))
	defer srv.Close()

	if code, body, _ := get(t, srv.Client(), srv.URL+"/acme/", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("damaged page: %d %q, want 503", code, body)
	}
	got, _ := e.Reg.Get(ctx, acme.ID)
	if got.MigrationStatus != tenancy.MigrationFailed || !strings.Contains(got.LastError, "malformed") {
		t.Errorf("registry: %s %q, want failed with SQLite's corruption error", got.MigrationStatus, got.LastError)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "tenant=acme") {
		t.Errorf("not logged at ERROR with the tenant:\n%s", logs.String())
	}
	if code, _, _ := get(t, srv.Client(), srv.URL+"/other/", ""); code != http.StatusOK {
		t.Errorf("another tenant: %d, want 200", code)
	}
	// Past the retry delay the file is checked again (quick_check), and still refused.
	clock.Lock()
	now = now.Add(2 * time.Minute)
	clock.Unlock()
	if code, _, _ := get(t, srv.Client(), srv.URL+"/acme/", ""); code != http.StatusServiceUnavailable {
		t.Errorf("after the retry delay: %d, want 503", code)
	}
	if _, err := ops.New(m2, blobs).Backup(ctx, got); err == nil {
		t.Error("a damaged tenant was backed up")
	}
	if err := m2.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A restarted server does not serve it either: the registry says failed, the check says why.
	m3 := e.Manager(t, ms, tenancy.Config{Now: tick})
	srv3 := httptest.NewServer(web.TenantMiddleware(m3, web.FairShare{}, http.HandlerFunc(countNotes), errorPage))
	defer srv3.Close()
	if code, body, _ := get(t, srv3.Client(), srv3.URL+"/acme/", ""); code != http.StatusServiceUnavailable {
		t.Errorf("after a restart: %d %q, want 503", code, body)
	}
	_ = other
}

// A backup whose copy fails integrity_check marks the tenant failed.
func TestBackupOfDamagedFileMarksFailed(t *testing.T) {
	ctx := context.Background()
	e, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	for i := range 200 {
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES (?)`, strings.Repeat("y", 100+i))
	}
	tenanttest.Exec(t, m, acme, `CREATE INDEX notes_body ON notes (body)`)
	tenanttest.Exec(t, m, acme, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	path, _ := m.Path(acme.ID)
	damagePage(t, path, "notes_body") // an index no request reads

	blobs := tenanttest.OpenBlobs(t, filepath.Join(e.Dir, "blobs"))
	m2 := e.Manager(t, nil, tenancy.Config{EraseElsewhere: ops.EraseBlobs(blobs)})
	if _, err := ops.New(m2, blobs).Backup(ctx, acme); err == nil || !tenancy.IsCorrupt(err) {
		t.Fatalf("backup of a damaged file: %v, want a corruption error", err)
	}
	got, _ := e.Reg.Get(ctx, acme.ID)
	if got.MigrationStatus != tenancy.MigrationFailed {
		t.Errorf("registry: %s %q, want failed", got.MigrationStatus, got.LastError)
	}
	if list, err := e.Reg.Backups(ctx, acme.ID); err != nil || len(list) != 0 {
		t.Errorf("the damaged copy was recorded: %v %v", list, err)
	}
}

// The registry's check (run by /readyz) reads the file, not what the registry's connections
// keep in memory: a page damaged on disk while the server runs is seen at the next check, not
// only when the process restarts and refuses the registry.
func TestRegistryCheckSeesDamageWhileOpen(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme", Timezone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.Dir, "registry.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// Everything in the database file itself, so that damaging the file damages the registry.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	// Read every page through the registry's connections, as a running server does.
	for range 8 {
		if err := e.Reg.Check(ctx); err != nil {
			t.Fatalf("check of a healthy registry: %v", err)
		}
	}
	damagePage(t, path, "tenants")
	err = e.Reg.Check(ctx)
	if !errors.Is(err, tenancy.ErrCorrupt) {
		t.Fatalf("check after a page of the file was overwritten: %v, want ErrCorrupt", err)
	}
}

// A tenant file emptied (or removed) while its database is open is found by the Manager's
// janitor, not only when a request happens to read a page SQLite does not hold in memory: the
// public pages, served from memory, answered 200 and tenants list said ok while the file was
// gone. Here a lease stays out throughout, as a live subscription keeps one.
func TestEmptiedOpenFileIsFound(t *testing.T) {
	synctest.Test(t, testEmptiedOpenFileIsFound)
}

func testEmptiedOpenFileIsFound(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	var logs logBuffer
	m := e.Manager(t, nil, tenancy.Config{IdleTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	acme := tenanttest.MustProvision(t, m, "acme")
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	path, _ := m.Path(acme.ID)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// The bubble's clock: a second passes once every goroutine is idle, several janitor rounds.
	time.Sleep(time.Second)
	synctest.Wait()
	got, err := e.Reg.Get(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MigrationStatus != tenancy.MigrationFailed {
		t.Fatalf("a second after its open file was emptied, the tenant is still %s", got.MigrationStatus)
	}
	if !strings.Contains(got.LastError, "empty") {
		t.Errorf("marked failed saying %q, want that the file is empty", got.LastError)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("nothing logged at ERROR:\n%s", logs.String())
	}
	if _, err := m.Acquire(ctx, acme); !errors.Is(err, tenancy.ErrUnavailable) {
		t.Errorf("acquire after: %v, want ErrUnavailable", err)
	}
}
