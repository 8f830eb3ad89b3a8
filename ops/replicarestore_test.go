package ops_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
	"github.com/reserva/reserva/tenancy"
)

// openReplica opens a file:// replica in the test's directory, closed at the end.
func openReplica(t *testing.T) *replica.Replicator {
	t.Helper()
	return replicatest.Open(t, "file://"+filepath.Join(t.TempDir(), "replica"), replica.Options{})
}

// shipWhile attaches tn's database to rep, runs fn, waits until the replica holds everything
// and detaches: what a server with --replica does while tn is open.
func shipWhile(t *testing.T, rep *replica.Replicator, m *tenancy.Manager, tn tenancy.Tenant, fn func()) {
	t.Helper()
	ctx := context.Background()
	path, err := m.Path(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	h, err := rep.Attach(ctx, replica.TenantName(tn.ID), path)
	if err != nil {
		t.Fatal(err)
	}
	fn()
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// afterNow returns a moment strictly later than every timestamp taken so far, at the
// millisecond resolution of the replica's files, once the clock has passed it.
func afterNow() time.Time {
	at := time.Now().Add(time.Millisecond)
	for !time.Now().After(at.Add(time.Millisecond)) {
		// The clock must pass at: LTX files written from now on carry later times.
	}
	return at
}

func TestRestoreFromReplica(t *testing.T) {
	ctx := context.Background()
	_, m, _ := tenanttest.BackupEnv(t, nil)
	rep := openReplica(t)
	acme := tenanttest.MustProvision(t, m, "acme")

	var between time.Time
	shipWhile(t, rep, m, acme, func() {
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('one'), ('two')`)
		if err := waitSynced(ctx, rep, acme.ID); err != nil {
			t.Fatal(err)
		}
		between = afterNow()
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('three')`)
	})
	// A change the replica never saw (made with replication off), lost by the restore.
	tenanttest.Exec(t, m, acme, `DELETE FROM notes WHERE body = 'one'`)

	safety, err := ops.New(m, nil).RestoreFromReplica(ctx, rep, acme, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"one", "two", "three"}) {
		t.Errorf("after restoring the latest: %v, want [one two three]", n)
	}
	if safety == "" {
		t.Error("no safety copy of the replaced database")
	}

	t.Run("PointInTime", func(t *testing.T) {
		if _, err := ops.New(m, nil).RestoreFromReplica(ctx, rep, acme, between); err != nil {
			t.Fatal(err)
		}
		if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"one", "two"}) {
			t.Errorf("restored as of between the commits: %v, want [one two]", n)
		}
	})
	t.Run("ReplicatedAfterwards", func(t *testing.T) {
		// Replication picks up the restored database: a later restore has what was written
		// after the point-in-time restore, on top of what it restored.
		shipWhile(t, rep, m, acme, func() {
			tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('four')`)
		})
		tenanttest.Exec(t, m, acme, `DELETE FROM notes`)
		if _, err := ops.New(m, nil).RestoreFromReplica(ctx, rep, acme, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"one", "two", "four"}) {
			t.Errorf("restored after writing on the restored database: %v, want [one two four]", n)
		}
	})
	t.Run("Into", func(t *testing.T) {
		cp, err := ops.New(m, nil).RestoreFromReplicaInto(ctx, rep, acme, time.Time{},
			tenancy.NewTenant{Slug: "acme-copy", Name: "Copy", Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		if n := tenanttest.Notes(t, m, cp); !slices.Equal(n, []string{"one", "two", "four"}) {
			t.Errorf("the copy holds %v, want [one two four]", n)
		}
		if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"one", "two", "four"}) {
			t.Errorf("the source changed: %v", n)
		}
	})
	t.Run("NoCopy", func(t *testing.T) {
		never := tenanttest.MustProvision(t, m, "never")
		_, err := ops.New(m, nil).RestoreFromReplica(ctx, rep, never, time.Time{})
		if !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("restore of a tenant the replica never held: %v, want ErrNotFound", err)
		}
		if _, err := ops.New(m, nil).RestoreFromReplica(ctx, rep, acme, time.Unix(1, 0)); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("restore from before the first copy: %v, want ErrNotFound", err)
		}
		if _, err := ops.New(m, nil).RestoreFromReplica(ctx, nil, acme, time.Time{}); !errors.Is(err, ops.ErrNoReplica) {
			t.Errorf("restore without a replica: %v, want ErrNoReplica", err)
		}
	})
	left, _ := filepath.Glob(filepath.Join(m.Config().DataDir, "tenants", "*", "*.restore-*"))
	if len(left) > 0 {
		t.Errorf("scratch files left after restores: %v", left)
	}
}

// waitSynced waits until the replica holds what tenant id's attached database committed.
func waitSynced(ctx context.Context, rep *replica.Replicator, id string) error {
	for _, h := range rep.Attached() {
		if h.Name() == replica.TenantName(id) {
			return h.Sync(ctx)
		}
	}
	return errors.New("not attached")
}
