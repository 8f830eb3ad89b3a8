package tenancy_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// Delete erases a tenant's copies elsewhere (its blobs) through Config.EraseElsewhere, after
// its files and before its registry row: when that step fails, the tenant stays registered
// with its files gone, and deleting it again finishes the job.
func TestDeleteErasesElsewhereBeforeRegistry(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	unreachable := errors.New("blob store unreachable")
	var erased []string
	fail := true
	m := e.Manager(t, nil, tenancy.Config{EraseElsewhere: func(_ context.Context, id string) error {
		if fail {
			return unreachable
		}
		erased = append(erased, id)
		return nil
	}})
	acme := tenanttest.MustProvision(t, m, "acme")
	path, err := m.Path(acme.ID)
	if err != nil {
		t.Fatal(err)
	}

	if err := m.Delete(ctx, acme.ID); !errors.Is(err, unreachable) {
		t.Fatalf("delete with the blob store down: %v, want %v", err, unreachable)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("database file after a half-done delete: %v, want gone", err)
	}
	if _, err := e.Reg.Get(ctx, acme.ID); err != nil {
		t.Errorf("registry row after a half-done delete: %v, want kept so a rerun finishes", err)
	}

	fail = false
	if err := m.Delete(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	if len(erased) != 1 || erased[0] != acme.ID {
		t.Errorf("erased elsewhere %v, want [%s]", erased, acme.ID)
	}
	if _, err := e.Reg.Get(ctx, acme.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("registry row after delete: %v, want ErrNotFound", err)
	}
}
