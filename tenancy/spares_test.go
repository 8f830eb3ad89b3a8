package tenancy_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// waitSpares waits until the registry lists n spares and returns them.
func waitSpares(t *testing.T, reg tenancy.Registry, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spares, err := reg.Spares(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(spares) == n {
			return spares
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spares, want %d", len(spares), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProvisionFromSpares(t *testing.T) {
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
	var fresh map[string]int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		fresh = waitSpares(t, e.Reg, 2)
		if allVersion(fresh, 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spares after upgrade: %v", fresh)
		}
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
