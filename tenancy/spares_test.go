package tenancy_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"testing/synctest"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// waitSpares waits until the Manager's spare filler is idle (synctest: every goroutine of the
// test's bubble blocked) and returns the spares the registry then lists, which must be n.
func waitSpares(t *testing.T, reg tenancy.Registry, n int) map[string]int {
	t.Helper()
	synctest.Wait()
	spares, err := reg.Spares(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(spares) != n {
		t.Fatalf("%d spares, want %d", len(spares), n)
	}
	return spares
}

func TestProvisionFromSpares(t *testing.T) {
	synctest.Test(t, testProvisionFromSpares)
}

func testProvisionFromSpares(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	v1 := tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`)
	m := e.Manager(t, v1, tenancy.Config{Spares: 2})
	spares := waitSpares(t, e.Reg, 2)

	acme := tenanttest.MustProvision(t, m, "acme")
	if _, ok := spares[acme.ID]; !ok {
		t.Errorf("tenant %s was not made from a spare (%v)", acme.ID, spares)
	}
	refilled := waitSpares(t, e.Reg, 2)
	if _, ok := refilled[acme.ID]; ok {
		t.Error("a claimed spare is still listed as spare")
	}
	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Write.Exec(`INSERT INTO notes VALUES ('hello')`); err != nil {
		t.Errorf("spare database lacks the schema: %v", err)
	}
	l.Release()

	// A sign-up that fails keeps its spare for the next one.
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Again", Timezone: "UTC"}); !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Fatalf("err = %v", err)
	}
	after := waitSpares(t, e.Reg, 2)
	for id := range after {
		path, _ := m.Path(id)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("spare %s: %v", id, err)
		}
	}
	_ = m.Close(ctx)

	// A new binary with a newer schema discards the old spares and makes new ones.
	m2 := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (body TEXT)`, `ALTER TABLE notes ADD COLUMN author TEXT`), tenancy.Config{Spares: 2})
	if fresh := waitSpares(t, e.Reg, 2); !allVersion(fresh, 2) {
		t.Fatalf("spares after upgrade: %v", fresh)
	}
	for id := range after {
		path, _ := m2.Path(id)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("outdated spare %s was not removed (%v)", id, err)
		}
	}
	b := tenanttest.MustProvision(t, m2, "bravo")
	if got, _ := e.Reg.Get(ctx, b.ID); got.SchemaVersion != 2 {
		t.Errorf("new tenant registered at version %d, want 2", got.SchemaVersion)
	}
}

func allVersion(m map[string]int, v int) bool {
	for _, got := range m {
		if got != v {
			return false
		}
	}
	return true
}
