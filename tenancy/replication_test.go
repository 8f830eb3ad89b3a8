package tenancy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
	"github.com/reserva/reserva/tenancy"
)

// TestReplicationFollowsHandles: with a replica, a tenant is attached while its handle is open
// and no longer (never more attached than MaxOpen); a handle closed by the LRU ships its last
// writes on the way out; checkpoints go through the replica without waiting on its read
// transaction; deleting a tenant leaves nothing of it in the replica or beside its file.
func TestReplicationFollowsHandles(t *testing.T) {
	s3 := replicatest.NewS3(t, "r")
	rep := replicatest.Open(t, s3.URL, replica.Options{})
	env := tenanttest.NewEnv(t)
	m := env.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`),
		tenancy.Config{MaxOpen: 2, Replicator: replicawire.Tenancy(rep, true)})
	ctx := context.Background()

	var ts []tenancy.Tenant
	for _, slug := range []string{"aaa", "bbb", "ccc"} {
		tn := tenanttest.MustProvision(t, m, slug)
		ts = append(ts, tn)
		tenanttest.Exec(t, m, tn, `INSERT INTO notes(body) VALUES (?)`, "note of "+slug)
		if n := len(rep.Attached()); n > 2 {
			t.Fatalf("%d databases attached with MaxOpen 2", n)
		}
	}
	// aaa was closed to make room for ccc: its write reached the replica with no Sync.
	for _, h := range rep.Attached() {
		if h.Name() == replica.TenantName(ts[0].ID) {
			t.Fatalf("aaa is still attached after its handle was closed")
		}
	}
	if got := tenanttest.ReplicaNotes(t, rep, ts[0].ID); strings.Join(got, ",") != "note of aaa" {
		t.Errorf("replica of the evicted tenant has %q, want its note", got)
	}

	// A checkpoint of a replicated tenant goes through the replica: our own TRUNCATE would
	// wait out the 10 s busy timeout behind its read transaction.
	l, err := m.Acquire(ctx, ts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !l.DB.Replicated() {
		t.Fatal("open tenant is not replicated")
	}
	for range 40 {
		if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO notes(body) VALUES (hex(randomblob(4000)))`); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DB.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	path, _ := m.Path(ts[2].ID)
	before, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = l.DB.Checkpoint(cctx)
	cancel()
	if err != nil {
		t.Fatalf("checkpoint through the replica: %v", err)
	}
	// (Litestream writes one page to the new WAL at once, to keep its position.)
	after, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() > before.Size()/8 {
		t.Errorf("WAL went from %d to %d bytes with a TRUNCATE checkpoint", before.Size(), after.Size())
	}
	l.Release()

	if err := m.Delete(ctx, ts[2].ID); err != nil {
		t.Fatal(err)
	}
	for _, k := range s3.Keys(t) {
		if strings.Contains(k, ts[2].ID) {
			t.Errorf("after deleting the business the replica still holds %s", k)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"+ts[2].ID+"*")); len(left) != 0 {
		t.Errorf("after deleting the business its data directory still holds %v", left)
	}
	for _, h := range rep.Attached() {
		if h.Name() == replica.TenantName(ts[2].ID) {
			t.Errorf("deleted tenant still attached")
		}
	}
}

// TestAckWritesChecksWriteFence: in cluster mode a write is acknowledged only when, after the
// replica holds it, the write fence passes; a fenced business's writes are reported unconfirmed
// (the caller answers "outcome unknown"), and a request that wrote nothing never asks.
func TestAckWritesChecksWriteFence(t *testing.T) {
	rep := replicatest.Open(t, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	env := tenanttest.NewEnv(t)
	fenced := errors.New("a successor claimed the next epoch")
	var asked []string
	var m *tenancy.Manager
	m = env.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`),
		tenancy.Config{Replicator: replicawire.Tenancy(rep, true), WriteFence: func(_ context.Context, id string) error {
			asked = append(asked, id)
			// The fence is checked once the replica holds the write.
			if got := tenanttest.ReplicaNotes(t, rep, id); len(got) == 0 {
				t.Errorf("write fence checked before the replica held the write")
			}
			if tn, _, _ := m.Resolve(context.Background(), "bbb"); tn.ID == id {
				return fenced
			}
			return nil
		}})
	ctx := context.Background()
	write := func(slug string) error {
		t.Helper()
		tn := tenanttest.MustProvision(t, m, slug)
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		mark := l.Mark()
		if err := l.AckWrites(ctx, mark, nil); err != nil {
			t.Fatalf("nothing written, yet: %v", err)
		}
		if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO notes(body) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
		return l.AckWrites(ctx, mark, nil)
	}
	if err := write("aaa"); err != nil {
		t.Errorf("owned business: %v", err)
	}
	if err := write("bbb"); !errors.Is(err, fenced) {
		t.Errorf("fenced business: %v, want the fence's error", err)
	}
	if len(asked) != 2 {
		t.Errorf("write fence asked %d times, want 2 (never for a request that wrote nothing)", len(asked))
	}
}

// TestAsyncCommitShipsAtOnce: with async acknowledgement a tenant's commit is handed to the
// replica as it happens. Left to the replicator's own loops it would wait for its WAL monitor
// and then its upload loop, each ticking every SyncInterval (up to two intervals: the tail of
// the replication lag); the interval here is an hour, so only the hand-over can ship it.
func TestAsyncCommitShipsAtOnce(t *testing.T) {
	s3 := replicatest.NewS3(t, "r")
	rep := replicatest.Open(t, s3.URL, replica.Options{SyncInterval: time.Hour})
	env := tenanttest.NewEnv(t)
	m := env.Manager(t, tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`),
		tenancy.Config{Replicator: replicawire.Tenancy(rep, true), ReplicaAsync: true})
	ctx := context.Background()
	tn := tenanttest.MustProvision(t, m, "aaa")
	l, err := m.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.DB.Sync(ctx); err != nil { // the business as provisioned: in the replica
		t.Fatal(err)
	}
	arrived, release := s3.HoldUploadsOf(t, replica.TenantName(tn.ID)+"/ltx/0/")
	if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO notes(body) VALUES ('booked')`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("an async commit was not shipped within 10 s (the sync interval is an hour)")
	}
	release()
	if err := l.DB.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tenanttest.ReplicaNotes(t, rep, tn.ID); strings.Join(got, ",") != "booked" {
		t.Errorf("replica holds %q, want the booking", got)
	}
}
