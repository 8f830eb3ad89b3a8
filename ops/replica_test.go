package ops_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
	"github.com/reserva/reserva/tenancy"
)

// A replicated business restored in place from a backup goes on being replicated from the
// restored file: the replica's latest state is the backup plus what came after the restore,
// not the replaced file's newer rows.
func TestRestoreInPlaceKeepsReplicating(t *testing.T) {
	ctx := context.Background()
	rep := replicatest.Open(t, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	e := tenanttest.NewEnv(t)
	e.Blobs = tenanttest.OpenBlobs(t, filepath.Join(e.Dir, "blobs"))
	m := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`),
		tenancy.Config{EraseElsewhere: ops.EraseBlobs(e.Blobs), Replicator: replicawire.Tenancy(rep, true)})
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('one'), ('two')`)
	if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
		t.Fatal(err)
	}
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('three')`)
	sync := func() {
		t.Helper()
		l, err := m.Acquire(ctx, acme)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		if err := l.DB.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	if got := tenanttest.ReplicaNotes(t, rep, acme.ID); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("replica before the restore: %v", got)
	}

	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, ""); err != nil {
		t.Fatal(err)
	}
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('four')`)
	sync()
	if got := tenanttest.ReplicaNotes(t, rep, acme.ID); !slices.Equal(got, []string{"one", "two", "four"}) {
		t.Errorf("replica after restoring the backup and writing: %v, want [one two four]", got)
	}
}
