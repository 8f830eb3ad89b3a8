package tenancy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Replicator streams open databases to an object store, continuously (Config.Replicator; the
// replica package implements it and serve wires it in). A tenant's database is attached when
// its handle opens and detached, after a final sync, when the handle closes, so no more are
// attached than Config.MaxOpen (plus the registry).
type Replicator interface {
	// Attach starts replicating the database file at dbPath under name (TenantReplicaName,
	// RegistryReplicaName). It may return a nil Replica: the database is then not replicated by
	// this process (a CLI command, while serve ships every commit to the file, whoever made it).
	Attach(ctx context.Context, name, dbPath string) (Replica, error)
	// Delete removes everything the replica holds under name (erasure).
	Delete(ctx context.Context, name string) error
}

// Replica is one attached database.
type Replica interface {
	// Sync waits until the replica holds every commit made before the call; concurrent callers
	// share one sync. An error means the commits may or may not be in the replica.
	Sync(ctx context.Context) error
	// Checkpoint folds the WAL into the database through the replicator, which holds a read
	// transaction that a checkpoint(TRUNCATE) of ours would wait on.
	Checkpoint(ctx context.Context) error
	// Close syncs a last time and detaches.
	Close(ctx context.Context) error
}

// RegistryReplicaName is the registry's name in the replica.
const RegistryReplicaName = "registry"

// TenantReplicaName is tenant id's name in the replica.
func TenantReplicaName(id string) string { return "tenants/" + id }

// replicaCloseWait bounds the final sync of a database detached from the replica as it closes.
const replicaCloseWait = 30 * time.Second

// internalTablePrefix starts the names of tables that a tool attached to a database adds
// (the replicator's _litestream_seq and _litestream_lock): not the application's, so they stay
// out of exports, dumps and schema checks.
const internalTablePrefix = "_litestream_"

// IsInternalTable reports whether table belongs to a tool attached to the database (the
// replicator) rather than to Reserva's schema.
func IsInternalTable(table string) bool {
	return strings.HasPrefix(strings.ToLower(table), internalTablePrefix)
}

// Shipper is a Replica that can start shipping what is committed without anyone waiting
// (replica.Handle): with async acknowledgement, db's commits are handed to it as they happen.
type Shipper interface{ Ship() }

// attach starts replicating db under name. With shipCommits (async acknowledgement), every
// commit is handed to the replica at once (Shipper), rather than left for the replicator's own
// polling of the WAL and its upload loop, which each wait up to their interval.
func (db *DB) attach(ctx context.Context, rep Replicator, name string, shipCommits bool) error {
	r, err := rep.Attach(ctx, name, db.path)
	if err != nil {
		return fmt.Errorf("replicate %s: %w", name, err)
	}
	if r == nil {
		return nil
	}
	ref := &replicaRef{Replica: r}
	if s, ok := r.(Shipper); ok && shipCommits {
		ref.stop, ref.stopped = make(chan struct{}), make(chan struct{})
		go db.shipCommits(s, ref.stop, ref.stopped)
	}
	db.replica.Store(ref)
	return nil
}

// shipCommits hands each commit of db to s until stop is closed, then closes stopped. Commits
// made while s ships are handed over together: s shares one sync among them.
func (db *DB) shipCommits(s Shipper, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	seen := db.Version()
	for {
		next := db.NextCommit() // taken before the check: a commit in between is not missed
		if db.Version() == seen {
			select {
			case <-next:
			case <-stop:
				return
			}
		}
		seen = db.Version()
		s.Ship()
	}
}

// detach syncs db's replica a last time (bounded by ctx) and stops replicating.
func (db *DB) detach(ctx context.Context) error {
	ref := db.replica.Swap(nil)
	if ref == nil {
		return nil
	}
	if ref.stop != nil {
		close(ref.stop)
		<-ref.stopped // Ship never blocks: the loop ends at once
	}
	return ref.Close(ctx)
}

// replicaRef holds a DB's Replica. (A request that gave its lease back, a deletion, may still
// ask for a sync as its handle closes: the field is read and cleared atomically.)
type replicaRef struct {
	Replica
	stop, stopped chan struct{} // end shipCommits, and it has ended (nil without it)
}

// Replicated reports whether db is attached to a replica.
func (db *DB) Replicated() bool { return db.replica.Load() != nil }

// Sync waits until the replica holds every commit made to db before the call (nothing to wait
// for when db is not replicated). Concurrent callers share one sync.
func (db *DB) Sync(ctx context.Context) error {
	ref := db.replica.Load()
	if ref == nil {
		return nil
	}
	return ref.Sync(ctx)
}

// Checkpoint folds db's WAL into the database file and truncates it: through the replica when
// db is attached to one (its read transaction would hold ours up for the busy timeout),
// otherwise with PRAGMA wal_checkpoint(TRUNCATE) on the writer.
func (db *DB) Checkpoint(ctx context.Context) error {
	if ref := db.replica.Load(); ref != nil {
		return ref.Checkpoint(ctx)
	}
	_, err := db.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// replicate attaches a freshly opened tenant database to the replica, when there is one. A
// tenant that cannot be replicated is not served: its writes could not be acknowledged.
func (m *Manager) replicate(ctx context.Context, t Tenant, db *DB) error {
	if m.cfg.Replicator == nil {
		return nil
	}
	if err := db.attach(ctx, m.cfg.Replicator, TenantReplicaName(t.ID), m.cfg.ReplicaAsync); err != nil {
		return errors.Join(fmt.Errorf("open tenant %s: %w", t.Slug, err), db.Close())
	}
	return nil
}

// deleteReplica removes tenant id's copy from the replica (erasure).
func (m *Manager) deleteReplica(ctx context.Context, id string) error {
	if m.cfg.Replicator == nil {
		return nil
	}
	if err := m.cfg.Replicator.Delete(ctx, TenantReplicaName(id)); err != nil {
		return fmt.Errorf("delete tenant %s from the replica: %w", id, err)
	}
	return nil
}

// removeReplicaState removes the replicator's local state beside the database at path (a
// hidden directory named after the file, .<file>-litestream): after erasure or a replaced
// file it describes a database that is no longer there.
func removeReplicaState(path string) error {
	dir, file := filepath.Split(path)
	return os.RemoveAll(filepath.Join(dir, "."+file+"-litestream"))
}

// Replicate attaches the registry to rep and waits until the replica holds it: from now on it
// is replicated under RegistryReplicaName, until Close. A replica that cannot be reached (a
// wrong address or credentials) fails here, at start-up, rather than at the first write.
func (r *SQLiteRegistry) Replicate(ctx context.Context, rep Replicator) error {
	if err := r.db.attach(ctx, rep, RegistryReplicaName, false); err != nil {
		return err
	}
	if err := r.db.Sync(ctx); err != nil {
		return errors.Join(fmt.Errorf("replicate the registry: %w", err), r.db.detach(ctx))
	}
	return nil
}

// WriteMark is where a tenant's database and the registry stood (their commit counters) when
// a request began; SyncSince waits for what was committed after it.
type WriteMark struct{ tenant, registry uint64 }

// Mark returns the commit counters of l's database and of the registry now.
func (l *Lease) Mark() WriteMark {
	w := WriteMark{tenant: l.DB.Version()}
	if rdb := l.registryDB(); rdb != nil {
		w.registry = rdb.Version()
	}
	return w
}

// Changed reports whether anything was committed to l's database or the registry since mark
// (by this request or another): SyncSince has something to wait for.
func (l *Lease) Changed(mark WriteMark) bool {
	if l.DB.Version() != mark.tenant {
		return true
	}
	rdb := l.registryDB()
	return rdb != nil && rdb.Version() != mark.registry
}

// SyncSince waits until the replica holds what was committed to l's database, and to the
// registry, since mark: nothing to wait for when nothing was (or nothing is replicated).
// Commits of others since mark may be waited for too; that costs time, never correctness.
func (l *Lease) SyncSince(ctx context.Context, mark WriteMark) error {
	var regErr error
	var wg sync.WaitGroup
	if rdb := l.registryDB(); rdb != nil && rdb.Version() != mark.registry {
		wg.Go(func() { // beside the tenant's: two round trips at once, not one after the other
			if err := rdb.Sync(ctx); err != nil {
				regErr = fmt.Errorf("replicate the registry: %w", err)
			}
		})
	}
	var err error
	if l.DB.Version() != mark.tenant {
		if serr := l.DB.Sync(ctx); serr != nil {
			err = fmt.Errorf("replicate tenant %s: %w", l.Tenant.Slug, serr)
		}
	}
	wg.Wait()
	return errors.Join(err, regErr)
}

// AckWrites is how a request, or an operation over a websocket, acknowledges its writes with
// sync acknowledgement (SyncAck): when anything was committed to l's database or the registry
// since mark, it calls yield, then waits until the replica holds it (SyncSince). yield gives
// back what the caller need not hold while it waits: its turn of the business's fair share, so
// the business's next writes can run and join the next shared sync (with one turn per business,
// writes holding theirs through the sync could never share one). Without sync acknowledgement,
// or with nothing committed, it returns nil at once and yield is not called. An error means
// the replica may or may not hold the commits: the caller answers "outcome unknown, retry".
// The HTTP middleware and the websocket transport both call it, so the two cannot drift apart.
// In cluster mode it checks Config.WriteFence last, once the replica holds the commits.
func (l *Lease) AckWrites(ctx context.Context, mark WriteMark, yield func()) error {
	if l.m == nil || !l.m.SyncAck() || !l.Changed(mark) {
		return nil
	}
	if yield != nil {
		yield()
	}
	if err := l.SyncSince(ctx, mark); err != nil {
		return err
	}
	// The write rule of cluster mode: in the replica, and this node not fenced since.
	if fence := l.m.cfg.WriteFence; fence != nil {
		if err := fence(ctx, l.Tenant.ID); err != nil {
			return fmt.Errorf("acknowledge writes to tenant %s: %w", l.Tenant.Slug, err)
		}
	}
	return nil
}

// registryDB is the registry's database when it is the SQLite registry, or wraps it (nil
// otherwise).
func (l *Lease) registryDB() *DB {
	if l.m == nil {
		return nil
	}
	if sr, ok := l.m.reg.(interface{ sqliteRegistry() *SQLiteRegistry }); ok {
		return sr.sqliteRegistry().db
	}
	return nil
}

// SyncAck reports whether writes are acknowledged only once the replica holds them
// (--replica-ack sync): a replica is configured and Config.ReplicaAsync is off.
func (m *Manager) SyncAck() bool { return m.cfg.Replicator != nil && !m.cfg.ReplicaAsync }

// SyncTenant waits, with sync acknowledgement (SyncAck), until the replica holds everything
// committed to tenant t and to the registry: for a new business (sign-up) before it is
// acknowledged. It opens t (attaching it) if it is not open.
func (m *Manager) SyncTenant(ctx context.Context, t Tenant) error {
	if !m.SyncAck() {
		return nil
	}
	l, err := m.AcquireBounded(ctx, t)
	if err != nil {
		return fmt.Errorf("replicate new tenant %s: %w", t.Slug, err)
	}
	defer l.Release()
	if err := l.DB.Sync(ctx); err != nil {
		return fmt.Errorf("replicate new tenant %s: %w", t.Slug, err)
	}
	if rdb := l.registryDB(); rdb != nil {
		if err := rdb.Sync(ctx); err != nil {
			return fmt.Errorf("replicate the registry: %w", err)
		}
	}
	return nil
}

// closeParallel is how many databases a shutdown closes at once.
const closeParallel = 8

// closeAll closes dbs, closeParallel at a time, under one deadline (ctx): a replicated
// database's close is a final sync, a round trip to the store, and a thousand of them one
// after the other would outlast a shutdown's deadline.
func closeAll(ctx context.Context, dbs []*DB) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, closeParallel)
	for _, db := range dbs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := db.CloseContext(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
