package tenancy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// restoreFrom is Config.RestoreMissing over a replica, as serve wires it.
func restoreFrom(rep *replica.Replicator) func(context.Context, tenancy.Tenant, string) error {
	return func(ctx context.Context, t tenancy.Tenant, dst string) error {
		err := rep.Restore(ctx, replica.TenantName(t.ID), dst, time.Time{})
		if errors.Is(err, replica.ErrNotFound) {
			return errors.Join(err, tenancy.ErrNoReplicaCopy)
		}
		return err
	}
}

// A data directory rebuilt by `reserva recover` has its registry and no tenant files: with a
// replica configured, each business's file comes back from the replica on its first open;
// one the replica never held is marked failed, as a lost file is without a replica.
func TestMissingFileRestoredFromReplicaOnOpen(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	migs := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
	rep, err := replica.Open(ctx, "file://"+filepath.Join(t.TempDir(), "replica"), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep.Close(context.Background()) }) // every handle is closed below

	m := e.Manager(t, migs, tenancy.Config{})
	acme := tenanttest.MustProvision(t, m, "acme")
	lost := tenanttest.MustProvision(t, m, "lost")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('kept')`)
	path, err := m.Path(acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	h, err := rep.Attach(ctx, replica.TenantName(acme.ID), path)
	if err != nil {
		t.Fatal(err)
	}
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('replicated')`)
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The disk is lost: every tenant file goes.
	if err := os.RemoveAll(filepath.Join(e.Dir, "tenants")); err != nil {
		t.Fatal(err)
	}

	m2 := e.Manager(t, migs, tenancy.Config{RestoreMissing: restoreFrom(rep)})
	if n, err := m2.MarkMissingFiles(ctx); err != nil || n != 0 {
		t.Errorf("MarkMissingFiles with a replica marked %d (%v), want 0: they come back on open", n, err)
	}
	if n := tenanttest.Notes(t, m2, acme); !slices.Equal(n, []string{"kept", "replicated"}) {
		t.Errorf("restored on open: %v, want [kept replicated]", n)
	}
	left, _ := filepath.Glob(filepath.Join(e.Dir, "tenants", "*", "*.restore-*"))
	if len(left) > 0 {
		t.Errorf("scratch files left: %v", left)
	}
	_, err = m2.Acquire(ctx, lost)
	if !tenancy.IsCorrupt(err) {
		t.Errorf("open of a tenant the replica never held: %v, want a corrupt (missing) file", err)
	}
	failed, err := e.Reg.Failed(ctx)
	if err != nil || len(failed) != 1 || failed[0].ID != lost.ID {
		t.Errorf("failed tenants: %v %v, want only lost", failed, err)
	}
}

// A copy the replica wrote is adopted as a scratch file under the reserved name, locked from
// before it takes that name: start-up clean-up (RemoveAbandoned) leaves it alone until it is
// let go, and then takes it as a crash's leftover.
func TestAdoptScratchKeepsTheCopyLocked(t *testing.T) {
	dir := t.TempDir()
	reserved, err := tenancy.NewScratch(filepath.Join(dir, "x.db.restore-abc"))
	if err != nil {
		t.Fatal(err)
	}
	written := reserved.Name() + "-replica"
	if err := os.WriteFile(written, []byte("copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := tenancy.AdoptScratch(written, reserved.Name())
	if err != nil {
		t.Fatal(err)
	}
	_ = reserved.Close() // its file was replaced by the copy
	if held.Name() != reserved.Name() {
		t.Errorf("adopted as %s, want %s", held.Name(), reserved.Name())
	}
	if b, err := os.ReadFile(reserved.Name()); err != nil || string(b) != "copy" {
		t.Errorf("under the reserved name: %q %v, want the copy", b, err)
	}
	if _, err := os.Stat(written); !os.IsNotExist(err) {
		t.Errorf("the copy is still under the name it was written with: %v", err)
	}
	pattern := filepath.Join(dir, "*.db.restore-*")
	if n, err := tenancy.RemoveAbandoned(pattern); n != 0 || err != nil {
		t.Errorf("clean-up removed %d (%v) while the copy was held", n, err)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := tenancy.RemoveAbandoned(pattern); n != 1 || err != nil {
		t.Errorf("clean-up removed %d (%v) once the copy was let go, want 1", n, err)
	}
}
