// Package tenanttest sets up data directories with a tenant registry and tenancy.Managers for
// tests. It is for tests only: the tests of tenancy, ops and web share it instead of each
// keeping a copy. tenancy's internal tests (package tenancy) cannot import it, since it imports
// tenancy.
package tenanttest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// Env is a data directory with a registry, shared by the Managers a test opens over it (one at a
// time, like successive releases of the binary).
type Env struct {
	Dir   string
	Reg   *tenancy.SQLiteRegistry
	Blobs blob.Store // the blob store BackupEnv opened (nil otherwise), for ops.New
}

// NewEnv makes an Env in a fresh temporary directory and closes its registry at the end of the
// test.
func NewEnv(tb testing.TB) *Env {
	tb.Helper()
	dir := tb.TempDir()
	reg, err := tenancy.OpenRegistry(context.Background(), filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := reg.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &Env{Dir: dir, Reg: reg}
}

// Manager opens a Manager over the env with the given tenant migrations (the embedded ones when
// nil) and closes it at the end of the test.
func (e *Env) Manager(tb testing.TB, ms []migrations.Migration, cfg tenancy.Config) *tenancy.Manager {
	tb.Helper()
	cfg.DataDir = e.Dir
	cfg.Migrations = ms
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := tenancy.NewManager(e.Reg, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// MustProvision provisions a tenant with the given slug, failing the test if it cannot.
func MustProvision(tb testing.TB, m *tenancy.Manager, slug string) tenancy.Tenant {
	tb.Helper()
	t, err := m.Provision(context.Background(), tenancy.NewTenant{Slug: slug, Name: "Biz " + slug, Timezone: "Europe/Madrid"})
	if err != nil {
		tb.Fatalf("provision %s: %v", slug, err)
	}
	return t
}

// Migs builds a migration list from SQL bodies: Migs("A", "B") is version 1 = A, version 2 = B.
func Migs(tb testing.TB, bodies ...string) []migrations.Migration {
	tb.Helper()
	fsys := fstest.MapFS{}
	for i, b := range bodies {
		fsys[filepath.Join("m", fmt.Sprintf("%04d_step.sql", i+1))] = &fstest.MapFile{Data: []byte(b)}
	}
	ms, err := migrations.Load(fsys, "m")
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// OpenBlobs opens a local blob store in dir and closes it at the end of the test.
func OpenBlobs(tb testing.TB, dir string) blob.Store {
	tb.Helper()
	u, err := blob.FileURL(dir)
	if err != nil {
		tb.Fatal(err)
	}
	blobs, err := blob.Open(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := blobs.Close(); err != nil {
			tb.Error(err)
		}
	})
	return blobs
}

// BackupEnv is an Env with a local blob store (e.Blobs, in the returned directory) and a
// Manager that erases a deleted tenant's blobs from it, whose tenants have a notes table and a
// sessions table.
func BackupEnv(tb testing.TB, now func() time.Time) (*Env, *tenancy.Manager, string) {
	tb.Helper()
	e := NewEnv(tb)
	blobDir := filepath.Join(e.Dir, "blobs")
	e.Blobs = OpenBlobs(tb, blobDir)
	m := e.Manager(tb, Migs(tb, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
		CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`),
		tenancy.Config{EraseElsewhere: ops.EraseBlobs(e.Blobs), Now: now})
	return e, m, blobDir
}

// Notes returns the bodies in the tenant's notes table (see BackupEnv), in insertion order.
func Notes(tb testing.TB, m *tenancy.Manager, tn tenancy.Tenant) []string {
	tb.Helper()
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Release()
	return notesIn(tb, l.DB.Read)
}

// ReplicaNotes restores tenant id's latest state from rep into a new file and returns the
// bodies in its notes table, in insertion order.
func ReplicaNotes(tb testing.TB, rep *replica.Replicator, id string) []string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "restored.db")
	if err := rep.Restore(context.Background(), replica.TenantName(id), p, time.Time{}); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	return notesIn(tb, db)
}

func notesIn(tb testing.TB, db *sql.DB) []string {
	tb.Helper()
	rows, err := db.Query(`SELECT body FROM notes ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close() // rows.Err is checked
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Exec runs a statement on the tenant's database, failing the test if it fails.
func Exec(tb testing.TB, m *tenancy.Manager, tn tenancy.Tenant, q string, args ...any) {
	tb.Helper()
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Release()
	if _, err := l.DB.Write.Exec(q, args...); err != nil {
		tb.Fatal(err)
	}
}
