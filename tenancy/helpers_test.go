package tenancy_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

// env is a data directory with a registry, shared by the Managers a test opens over it (one at a
// time, like successive releases of the binary).
type env struct {
	dir string
	reg *tenancy.SQLiteRegistry
}

func newEnv(tb testing.TB) *env {
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
	return &env{dir: dir, reg: reg}
}

// manager opens a Manager over the env with the given tenant migrations (the embedded ones when
// nil) and closes it at the end of the test.
func (e *env) manager(tb testing.TB, ms []migrations.Migration, cfg tenancy.Config) *tenancy.Manager {
	tb.Helper()
	cfg.DataDir = e.dir
	cfg.Migrations = ms
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := tenancy.NewManager(e.reg, cfg)
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

func mustProvision(tb testing.TB, m *tenancy.Manager, slug string) tenancy.Tenant {
	tb.Helper()
	t, err := m.Provision(context.Background(), tenancy.NewTenant{Slug: slug, Name: "Biz " + slug, Timezone: "Europe/Madrid"})
	if err != nil {
		tb.Fatalf("provision %s: %v", slug, err)
	}
	return t
}

// migs builds a migration list from SQL bodies: migs("A", "B") is version 1 = A, version 2 = B.
func migs(tb testing.TB, bodies ...string) []migrations.Migration {
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

func version(tb testing.TB, l *tenancy.Lease) int {
	tb.Helper()
	var v int
	if err := l.DB.Read.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// openRaw opens a database file directly, as an operator's sqlite3 shell would.
func openRaw(path string) (*sql.DB, error) { return sql.Open("sqlite3", "file:"+path+"?mode=rw") }

// backupEnv is an env whose Manager has a local blob store.
func backupEnv(t *testing.T, now func() time.Time) (*env, *tenancy.Manager, string) {
	t.Helper()
	e := newEnv(t)
	blobDir := filepath.Join(e.dir, "blobs")
	u, err := blob.FileURL(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := blobs.Close(); err != nil {
			t.Error(err)
		}
	})
	m := e.manager(t, migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
		CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`), tenancy.Config{Blobs: blobs, Now: now})
	return e, m, blobDir
}

func notes(t *testing.T, m *tenancy.Manager, tn tenancy.Tenant) []string {
	t.Helper()
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	rows, err := l.DB.Read.Query(`SELECT body FROM notes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func exec(t *testing.T, m *tenancy.Manager, tn tenancy.Tenant, q string, args ...any) {
	t.Helper()
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := l.DB.Write.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *http.Client, url, host string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}
