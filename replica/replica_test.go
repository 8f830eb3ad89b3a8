package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
)

// store is one replica under test, with a way to list every key it holds.
type store struct {
	url  string
	keys func(t *testing.T) []string
}

func stores() map[string]func(t *testing.T) store {
	return map[string]func(t *testing.T) store{
		"s3": func(t *testing.T) store {
			s3 := replicatest.NewS3(t, "backups/r1")
			return store{url: s3.URL, keys: func(t *testing.T) []string { return s3.Keys(t) }}
		},
		"file": func(t *testing.T) store {
			dir := t.TempDir()
			return store{url: "file://" + filepath.ToSlash(dir), keys: func(t *testing.T) []string {
				var out []string
				err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(dir, p)
						out = append(out, filepath.ToSlash(rel))
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}}
		},
	}
}

// openReplica opens a replicator on st, closed (and checked) when the test ends.
func openReplica(t *testing.T, st store) *replica.Replicator {
	t.Helper()
	r, err := replica.Open(context.Background(), st.url, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

// shipFile writes rows what into the database at path and ships all of it under name (attach,
// then detach: its final sync ships everything).
func shipFile(t *testing.T, r *replica.Replicator, name, path string, what ...string) {
	t.Helper()
	ctx := context.Background()
	db := openDB(t, path)
	for _, w := range what {
		insert(t, db, w)
	}
	h, err := r.Attach(ctx, name, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func openDB(t *testing.T, p string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+p+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() }) // the test's writes are done
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS bookings(id INTEGER PRIMARY KEY, what TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(t *testing.T, db *sql.DB, what string) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO bookings(what) VALUES (?)`, what); err != nil {
		t.Fatal(err)
	}
}

func rows(t *testing.T, p string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	rs, err := db.Query(`SELECT what FROM bookings ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rs.Close() }() // rs.Err is checked
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// nextMilli returns once the clock has passed t's millisecond: LTX files carry their commit
// time in milliseconds, so a commit after this is strictly later than t for a restore.
func nextMilli(t time.Time) {
	for time.Now().UnixMilli() <= t.UnixMilli() {
		runtime.Gosched()
	}
}

// TestReplicateRestoreDelete attaches a database, writes, syncs, restores the latest state
// and an earlier point in time into new files (each passes integrity_check), and deletes the
// name: nothing is left under it.
func TestReplicateRestoreDelete(t *testing.T) {
	for kind, mk := range stores() {
		t.Run(kind, func(t *testing.T) {
			st := mk(t)
			ctx := context.Background()
			r := replicatest.Open(t, st.url, replica.Options{})

			dir := t.TempDir()
			src := filepath.Join(dir, "src.db")
			db := openDB(t, src)
			insert(t, db, "first")
			name := replica.TenantName("abcdefghijklmnopqrstuvwxyz")
			h, err := r.Attach(ctx, name, src)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Attach(ctx, name, src); !errors.Is(err, replica.ErrAttached) {
				t.Fatalf("second attach: got %v, want ErrAttached", err)
			}
			if err := h.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			mid := time.Now()
			nextMilli(mid)
			insert(t, db, "second")
			if err := h.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if s := h.Stats(); s.BytesShipped <= 0 || s.ReplicaTXID < s.LocalTXID || s.Lag != 0 {
				t.Errorf("stats after sync = %+v, want bytes shipped and no lag", s)
			}

			latest := filepath.Join(dir, "latest.db")
			if err := r.Restore(ctx, name, latest, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if got := rows(t, latest); strings.Join(got, ",") != "first,second" {
				t.Errorf("latest restore has %q, want first,second", got)
			}
			if err := replica.IntegrityCheck(ctx, latest); err != nil {
				t.Error(err)
			}
			early := filepath.Join(dir, "early.db")
			if err := r.Restore(ctx, name, early, mid); err != nil {
				t.Fatal(err)
			}
			if got := rows(t, early); strings.Join(got, ",") != "first" {
				t.Errorf("restore at %v has %q, want first", mid, got)
			}
			if err := r.Restore(ctx, name, early, time.Time{}); err == nil {
				t.Error("restore over an existing file succeeded")
			}
			if err := r.Restore(ctx, replica.TenantName("zzzzzzzzzzzzzzzzzzzzzzzzzz"), filepath.Join(dir, "none.db"), time.Time{}); !errors.Is(err, replica.ErrNotFound) {
				t.Errorf("restore of an unknown name: got %v, want ErrNotFound", err)
			}

			names, err := r.List(ctx, "tenants")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(names, ",") != name {
				t.Errorf("List(tenants) = %q, want [%s]", names, name)
			}

			insert(t, db, "third") // shipped by Close's final sync
			if err := r.Delete(ctx, name); !errors.Is(err, replica.ErrAttached) {
				t.Errorf("delete while attached: got %v, want ErrAttached", err)
			}
			if err := h.Close(ctx); err != nil {
				t.Fatal(err)
			}
			final := filepath.Join(dir, "final.db")
			if err := r.Restore(ctx, name, final, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if got := rows(t, final); strings.Join(got, ",") != "first,second,third" {
				t.Errorf("restore after close has %q, want first,second,third", got)
			}

			if err := r.Delete(ctx, name); err != nil {
				t.Fatal(err)
			}
			for _, k := range st.keys(t) {
				if strings.Contains(k, "abcdefghijklmnopqrstuvwxyz") {
					t.Errorf("after Delete the replica still holds %s", k)
				}
			}
			if names, err := r.List(ctx, "tenants"); err != nil || len(names) != 0 {
				t.Errorf("List(tenants) after delete = %q, %v", names, err)
			}
		})
	}
}

// TestSyncGroupCommit holds the first sync while ten more callers arrive: they all share one
// second sync, and each of them finds its commit in the replica.
func TestSyncGroupCommit(t *testing.T) {
	ctx := context.Background()
	r := replicatest.Open(t, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := openDB(t, src)
	h, err := r.Attach(ctx, replica.RegistryName, src)
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 16), make(chan struct{})
	queued := make(chan struct{}, 16)
	first := true
	replica.SetHooks(h, func() {
		if first {
			first = false
			started <- struct{}{}
			<-release
		}
	}, func() { queued <- struct{}{} })

	errs := make(chan error, 11)
	go func() { errs <- h.Sync(ctx) }()
	<-started
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		insert(t, db, fmt.Sprintf("w%d", i))
		wg.Go(func() { errs <- h.Sync(ctx) })
	}
	for range n {
		<-queued
	}
	close(release)
	wg.Wait()
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Stats().Syncs; got != 2 {
		t.Errorf("%d callers ran %d syncs, want 2 (one shared by the ten)", n+1, got)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.db")
	if err := r.Restore(ctx, replica.RegistryName, out, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, out); len(got) != n {
		t.Errorf("restored %d rows, want %d", len(got), n)
	}
}

// TestSyncUploadOverlapsNextShip holds the upload of one sync: a sync that comes meanwhile
// writes its LTX file (the WAL-to-LTX stage) without waiting for that upload, but returns only
// once its own commit is uploaded too; both commits are then in the replica.
func TestSyncUploadOverlapsNextShip(t *testing.T) {
	ctx := context.Background()
	s3 := replicatest.NewS3(t, "overlap")
	r, err := replica.Open(ctx, s3.URL, replica.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := openDB(t, src)
	h, err := r.Attach(ctx, replica.RegistryName, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var bStarted atomic.Bool
	shipped := make(chan struct{}, 4)
	replica.SetShippedHook(h, func() {
		if bStarted.Load() {
			shipped <- struct{}{}
		}
	})
	arrived, release := s3.HoldUploads(t)

	insert(t, db, "a")
	errA := make(chan error, 1)
	go func() { errA <- h.Sync(ctx) }()
	<-arrived // a's LTX file is written, its upload held

	insert(t, db, "b")
	bStarted.Store(true)
	errB := make(chan error, 1)
	go func() { errB <- h.Sync(ctx) }()
	select {
	case <-shipped:
	case err := <-errA:
		t.Fatalf("the held sync returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second sync did not write its LTX file while the first upload was held")
	}
	select {
	case err := <-errB:
		t.Fatalf("the second sync returned (%v) before any upload got through", err)
	default:
	}
	release()
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.ReplicaTXID < s.LocalTXID || s.Syncs != 3 {
		t.Errorf("stats = %+v, want the replica caught up after 3 syncs", s)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.db")
	if err := r.Restore(ctx, replica.RegistryName, out, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, out); strings.Join(got, ",") != "a,b" {
		t.Errorf("restored %q, want a,b", got)
	}
}

// TestRestoreLeavesOneFile restores into an empty directory: the copy is the only file there
// (the integrity check's -wal and -shm are gone), and it opens with its rows.
func TestRestoreLeavesOneFile(t *testing.T) {
	ctx := context.Background()
	r := replicatest.Open(t, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	src := filepath.Join(t.TempDir(), "src.db")
	db := openDB(t, src)
	insert(t, db, "kept")
	h, err := r.Attach(ctx, replica.RegistryName, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := r.Restore(ctx, replica.RegistryName, filepath.Join(dir, "out.db"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "out.db" {
		t.Errorf("the restore left %q, want only out.db", names)
	}
	if got := rows(t, filepath.Join(dir, "out.db")); strings.Join(got, ",") != "kept" {
		t.Errorf("restored %q, want kept", got)
	}
}

func TestParseURL(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"", "ftp://x/y", "file://host/x", "file:relative", "s3:///prefix", "s3://b/../x"} {
		if r, err := replica.Open(ctx, bad, replica.Options{}); err == nil {
			_ = r.Close(ctx) // opened by mistake: the failure is the report
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	r, err := replica.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(ctx) }() // nothing attached
	for _, bad := range []string{"../x", "/abs", "Tenants/x", "a//b", ""} {
		if _, err := r.Attach(ctx, bad, filepath.Join(t.TempDir(), "x.db")); err == nil || errors.Is(err, replica.ErrAttached) {
			t.Errorf("Attach(%q): got %v, want invalid name", bad, err)
		}
	}
}

// BenchmarkCommitSync measures a commit followed by Sync (what a sync-acknowledged write
// costs beyond its commit) to gofakes3 over TLS and to a directory, with one writer and with
// four (whose syncs are shared: group commit), against commits alone ("none").
func BenchmarkCommitSync(b *testing.B) {
	for _, kind := range []string{"none", "s3", "file"} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/writers=%d", kind, writers), func(b *testing.B) {
				db, h := benchDB(b, kind)
				b.SetParallelism(writers) // GOMAXPROCS × writers goroutines
				b.ResetTimer()
				var syncs0 uint64
				if h != nil {
					syncs0 = h.Stats().Syncs
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := db.Exec(`INSERT INTO bookings(what) VALUES ('x')`); err != nil {
							b.Error(err)
							return
						}
						if h == nil {
							continue
						}
						if err := h.Sync(context.Background()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				if h != nil {
					// How many writes each shared sync served: group commit at work, a figure
					// that does not depend on how loaded the machine is.
					b.ReportMetric(float64(b.N)/float64(h.Stats().Syncs-syncs0), "writes/sync")
				}
			})
		}
	}
}

// benchDB opens a database with one writer connection, attached to a replica of kind (none:
// not attached, h is nil).
func benchDB(b *testing.B, kind string) (*sql.DB, *replica.Handle) {
	b.Helper()
	ctx := context.Background()
	src := filepath.Join(b.TempDir(), "src.db")
	db, err := sql.Open("sqlite3", "file:"+src+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)&_pragma=synchronous(full)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() }) // a benchmark's database
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE bookings(id INTEGER PRIMARY KEY, what TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if kind == "none" {
		return db, nil
	}
	url := "file://" + filepath.ToSlash(b.TempDir())
	if kind == "s3" {
		url = replicatest.NewS3(b, "bench").URL
	}
	r, err := replica.Open(ctx, url, replica.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close(ctx) }) // a benchmark's replica
	h, err := r.Attach(ctx, replica.RegistryName, src)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return db, h
}

// TestShipStartsSyncWithoutWaiting: Ship returns at once and its sync reaches the store though
// the handle's own loops tick only every hour; a closed handle ignores it.
func TestShipStartsSyncWithoutWaiting(t *testing.T) {
	ctx := context.Background()
	s3 := replicatest.NewS3(t, "ship")
	r := replicatest.Open(t, s3.URL, replica.Options{Logger: slog.New(slog.DiscardHandler), SyncInterval: time.Hour})
	p := filepath.Join(t.TempDir(), "a.db")
	db := openDB(t, p)
	h, err := r.Attach(ctx, replica.RegistryName, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	arrived, release := s3.HoldUploadsOf(t, replica.RegistryName+"/ltx/0/")
	insert(t, db, "shipped")
	h.Ship() // returns with its upload held
	h.Ship() // joins the next sync
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("Ship started no upload within 10 s (the sync interval is an hour)")
	}
	release()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h.Ship() // closed: nothing to do
	dst := filepath.Join(t.TempDir(), "restored.db")
	if err := r.Restore(ctx, replica.RegistryName, dst, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, dst); strings.Join(got, ",") != "shipped" {
		t.Errorf("replica holds %q, want the shipped row", got)
	}
}

// TestShipOneSyncAtATime: commits Ship'd while a sync's upload is under way all go out in one
// more LTX file once it ends, not in a file each queued behind it (a busy database under async
// acknowledgement would fall further behind with every commit).
func TestShipOneSyncAtATime(t *testing.T) {
	ctx := context.Background()
	s3 := replicatest.NewS3(t, "ship")
	r := replicatest.Open(t, s3.URL, replica.Options{Logger: slog.New(slog.DiscardHandler), SyncInterval: time.Hour})
	p := filepath.Join(t.TempDir(), "a.db")
	db := openDB(t, p)
	h, err := r.Attach(ctx, replica.RegistryName, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	l0 := func() int {
		n := 0
		for _, k := range s3.Keys(t) {
			if strings.Contains(k, replica.RegistryName+"/ltx/0/") {
				n++
			}
		}
		return n
	}
	before := l0()
	arrived, release := s3.HoldUploadsOf(t, replica.RegistryName+"/ltx/0/")
	insert(t, db, "first")
	h.Ship()
	<-arrived // its upload held
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint(i))
		insert(t, db, want[i])
		h.Ship()
		runtime.Gosched()
	}
	release()
	if err := h.Close(ctx); err != nil { // after the Ship'd syncs, which it lets finish
		t.Fatal(err)
	}
	if got := l0() - before; got != 2 {
		t.Errorf("%d LTX files uploaded for 11 commits Ship'd around one held upload, want 2", got)
	}
	dst := filepath.Join(t.TempDir(), "restored.db")
	if err := r.Restore(ctx, replica.RegistryName, dst, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, w := strings.Join(rows(t, dst), ","), "first,"+strings.Join(want, ","); got != w {
		t.Errorf("replica holds %q, want %q", got, w)
	}
}
