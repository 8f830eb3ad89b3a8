package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

// The tenant middleware's tests work on a bare Manager, as tenancy's own tests do: these are
// copies of tenancy's test helpers.

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
