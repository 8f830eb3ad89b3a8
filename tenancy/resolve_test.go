package tenancy_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// countingRegistry counts slug lookups; the embedded registry's ChangeCounter stays visible.
type countingRegistry struct {
	*tenancy.SQLiteRegistry
	bySlug atomic.Int64
}

func (r *countingRegistry) BySlug(ctx context.Context, slug string) (tenancy.Tenant, error) {
	r.bySlug.Add(1)
	return r.SQLiteRegistry.BySlug(ctx, slug)
}

// A slug resolved once costs no registry query again while what lookups see is unchanged, however
// long ago it was and whatever else is written; a change made by another process (the CLI) is
// seen within a quarter second.
func TestResolverKeepsEntriesUntilTheRegistryChanges(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	reg := &countingRegistry{SQLiteRegistry: e.Reg}
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: e.Dir, Now: clock, IdleTimeout: time.Hour, CacheTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(ctx) }()
	acme := tenanttest.MustProvision(t, m, "acme")

	resolve := func(slug string) (tenancy.Tenant, string) {
		t.Helper()
		got, redirect, err := m.Resolve(ctx, slug)
		if err != nil {
			t.Fatalf("resolve %s: %v", slug, err)
		}
		return got, redirect
	}
	resolve("acme")
	looked := reg.bySlug.Load()
	advance(10 * time.Second) // five TTLs
	if got, _ := resolve("acme"); got.ID != acme.ID {
		t.Fatalf("acme resolves to %s", got.ID)
	}
	if n := reg.bySlug.Load() - looked; n != 0 {
		t.Errorf("an unchanged registry was asked %d more times", n)
	}

	// Another process records what lookups do not show: last-seen times (what every server's
	// janitor writes each 30 s), a schema version, a spare, stats, a backup. Nothing is looked up
	// again for them.
	cli, err := tenancy.OpenRegistry(ctx, filepath.Join(e.Dir, "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	before, err := cli.ChangeCounter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func() error{
		"last seen": func() error { return cli.Touch(ctx, map[string]time.Time{acme.ID: time.Now()}) },
		"schema":    func() error { return cli.SetSchema(ctx, acme.ID, acme.SchemaVersion, tenancy.MigrationOK, "") },
		"spare":     func() error { return cli.AddSpare(ctx, "spare-1", 1) },
		"stats":     func() error { return cli.SetStats(ctx, tenancy.DailyStats{TenantID: acme.ID, Day: "2026-11-24"}) },
		"backup": func() error {
			return cli.AddBackup(ctx, tenancy.Backup{ID: "b1", TenantID: acme.ID, Key: "k", CreatedAt: time.Now()})
		},
	} {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if after, _ := cli.ChangeCounter(ctx); after != before {
			t.Errorf("recording %s moved the change counter %d -> %d", name, before, after)
		}
	}
	advance(time.Second)
	resolve("acme")
	if n := reg.bySlug.Load() - looked; n != 0 {
		t.Errorf("after last-seen, schema, spare, stats and backup records, acme was looked up %d more times", n)
	}

	// The CLI renames the business through its own connection to the registry.
	if err := cli.Rename(ctx, acme.ID, "acme-two"); err != nil {
		t.Fatal(err)
	}
	advance(250 * time.Millisecond) // what the README promises
	if got, redirect := resolve("acme"); redirect != "acme-two" || got.ID != "" {
		t.Errorf("after the CLI's rename, acme resolves to %q, redirect %q; want a redirect to acme-two", got.ID, redirect)
	}
	if got, _ := resolve("acme-two"); got.ID != acme.ID {
		t.Errorf("acme-two resolves to %q, want %s", got.ID, acme.ID)
	}
}
