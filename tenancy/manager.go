package tenancy

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/migrations"
)

// ErrUnavailable means a tenant cannot be served right now (its migration failed, or its schema
// is newer than this binary). Other tenants are unaffected. HTTP maps it to 503.
var ErrUnavailable = errors.New("tenant temporarily unavailable")

// ErrClosed means the Manager is shutting down.
var ErrClosed = errors.New("tenant manager is closed")

// Config configures a Manager. Zero values take the defaults.
type Config struct {
	DataDir     string        // tenant files live in DataDir/tenants; default DefaultDataDir
	MaxOpen     int           // most tenant databases open at once (LRU beyond); default DefaultMaxOpen
	IdleTimeout time.Duration // an unused handle is closed after this; default DefaultIdleTimeout
	ReadConns   int           // reader connections per tenant; default DefaultReadConns
	// CacheTTL bounds how late this process sees registry changes made by another (the CLI):
	// lookups are kept while the registry's change counter stands still, read again every
	// CacheTTL/8 (at most 250 ms), and, without a counter, expire after CacheTTL. Changes made
	// through this process are seen at once. Default DefaultCacheTTL.
	CacheTTL time.Duration
	// FaultRetry is how long a tenant found damaged (ErrCorrupt) answers 503 at once before this
	// process looks at its file again; default DefaultFaultRetry. Each look is a full
	// quick_check.
	FaultRetry time.Duration
	// AcquireWait bounds how long a request, or a job's visit, waits to enter one tenant (for its
	// lock while another caller opens it, for an exclusive operation, for a free handle slot):
	// default DefaultAcquireWait. A tenant that stays stuck costs a job that long, never the
	// whole run.
	AcquireWait time.Duration
	// ExclusiveWait bounds how long Exclusive (delete, restore) waits for a tenant's leases to
	// end, when its context allows longer: default DefaultExclusiveWait. New leases wait while
	// it does.
	ExclusiveWait time.Duration
	// Blobs holds backups and uploads (nil: backups are not available).
	Blobs blob.Store
	// Spares is how many empty, migrated tenant databases to keep ready, so that a sign-up only
	// has to register one (0: every sign-up copies the template itself).
	Spares     int
	Migrations []migrations.Migration
	// Replicator, when set, replicates every open tenant database (attached when its handle
	// opens, detached when it closes) and erases a deleted tenant's copy (replication.go).
	Replicator Replicator
	// ReplicaAsync, with a Replicator, lets writes be acknowledged before the replica holds
	// them (--replica-ack async); otherwise SyncAck is on.
	ReplicaAsync bool
	// OnMigrate, when set, hears of every tenant migration attempt (for metrics): the versions
	// before and after, and the error of a failed step.
	OnMigrate func(t Tenant, from, to int, err error)
	Logger    *slog.Logger
	Now       func() time.Time
	// RestoreMissing, when set (a replica is configured), writes tenant t's database from the
	// replica into the new file dst, checked with integrity_check; ErrNoReplicaCopy when the
	// replica holds none. A tenant whose file is missing is then restored on its first open
	// instead of being marked failed: a data directory rebuilt by `reserva recover`.
	RestoreMissing func(ctx context.Context, t Tenant, dst string) error
}

// Defaults of Config: the zero value of a field takes its default, and the command line's flags
// and the README's table show these.
const (
	DefaultDataDir       = "data"
	DefaultMaxOpen       = 1024
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultReadConns     = 2
	DefaultCacheTTL      = 2 * time.Second
	DefaultFaultRetry    = time.Minute
	DefaultAcquireWait   = 10 * time.Second
	DefaultExclusiveWait = 30 * time.Second
)

// Manager opens tenant databases on demand and shares them between requests and jobs.
//
// Each tenant has one lock. The first user of a tenant takes it, opens the database and applies
// pending migrations; concurrent users of that tenant wait for it, users of other tenants never
// do. Handles are leased: a handle with leases is never closed, one without leases stays open
// (least recently used first out) until the cap needs its slot or it has been idle too long.
type Manager struct {
	cfg    Config
	reg    Registry
	latest int
	cache  *resolverCache

	mu      sync.Mutex
	entries map[string]*entry // tenants with a handle, a lease or an operation under way
	idle    *list.List        // entries with a handle and no lease; front = most recently used
	open    int               // handles open or being opened (never above cfg.MaxOpen)
	changed chan struct{}     // closed and replaced whenever a lease ends or a handle closes
	seen    map[string]time.Time
	faulted map[string]time.Time // tenants found damaged, until when they are not looked at again
	closed  bool

	templateMu sync.Mutex
	template   string // path of the pre-migrated template database, once made

	zones sync.Map // IANA name -> *time.Location, loaded once

	spares    chan string   // ids of spare databases ready to be claimed
	spareWake chan struct{} // tells the filler a spare was taken

	stop chan struct{}
	bg   sync.WaitGroup // the janitor and the spare filler
}

type entry struct {
	id       string
	lock     chan struct{} // the tenant's lock (a 1-slot semaphore, so waiting honours ctx)
	refs     int           // leases out, including callers waiting for the lock
	db       *DB
	idleElem *list.Element
	lastUsed time.Time
	// exclusive is non-nil while Exclusive runs (delete, restore); it is closed when it ends.
	exclusive chan struct{}
	// evict, once a lease asked for it (Lease.Done), is closed when Exclusive starts.
	evict chan struct{}
	// failed is the last open error and when it happened: callers that waited for the lock
	// during that attempt get its result instead of each retrying a broken migration.
	failed   error
	failedAt time.Time
}

// NewManager returns a Manager over reg. Close it to close every tenant database.
func NewManager(reg Registry, cfg Config) (*Manager, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	cfg.DataDir = dir
	if cfg.MaxOpen <= 0 {
		cfg.MaxOpen = DefaultMaxOpen
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = DefaultReadConns
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.FaultRetry <= 0 {
		cfg.FaultRetry = DefaultFaultRetry
	}
	if cfg.AcquireWait <= 0 {
		cfg.AcquireWait = DefaultAcquireWait
	}
	if cfg.ExclusiveWait <= 0 {
		cfg.ExclusiveWait = DefaultExclusiveWait
	}
	if cfg.Migrations == nil {
		cfg.Migrations = migrations.Tenant()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	m := &Manager{
		cfg:       cfg,
		reg:       reg,
		latest:    migrations.Latest(cfg.Migrations),
		cache:     newResolverCache(reg, cfg.CacheTTL, cfg.Now),
		entries:   map[string]*entry{},
		idle:      list.New(),
		changed:   make(chan struct{}),
		seen:      map[string]time.Time{},
		faulted:   map[string]time.Time{},
		spares:    make(chan string, max(cfg.Spares, 0)),
		spareWake: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	// Copies of businesses' data that a killed backup, restore or export left behind.
	if n, err := m.RemoveLeftovers(); err != nil {
		cfg.Logger.Error("remove leftover scratch files", "removed", n, "err", err)
	} else if n > 0 {
		cfg.Logger.Warn("removed scratch files left by an interrupted backup, restore or export", "removed", n)
	}
	m.bg.Go(m.janitor)
	if cfg.Spares > 0 {
		m.bg.Go(m.fillSpares)
	}
	return m, nil
}

// Registry returns the registry the Manager works over.
func (m *Manager) Registry() Registry { return m.reg }

// Config returns the Manager's configuration, defaults filled in (for the packages that work
// beside it on its tenants: backups use its blob store, clock and logger).
func (m *Manager) Config() Config { return m.cfg }

// LatestVersion is the tenant schema version this binary migrates to.
func (m *Manager) LatestVersion() int { return m.latest }

var idPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

// Path returns the database file of tenant id: DataDir/tenants/<id[:2]>/<id>.db. Only ids made by
// newID are accepted, so no string from a request can ever become a path.
func (m *Manager) Path(id string) (string, error) {
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("invalid tenant id %q", id)
	}
	return filepath.Join(m.cfg.DataDir, "tenants", id[:2], id+".db"), nil
}

// TenantFiles returns the tenant database files (live tenants and spares) in dataDir, by the
// layout of Path. A registry that is missing or empty beside them has lost every business.
func TenantFiles(dataDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dataDir, "tenants", "*", "*.db"))
	var out []string
	for _, f := range files {
		if idPattern.MatchString(strings.TrimSuffix(filepath.Base(f), ".db")) {
			out = append(out, f)
		}
	}
	return out, err
}

// Lease is a tenant's open, fully migrated database, held until Release. Only the code that
// acquired a lease releases it.
type Lease struct {
	Tenant   Tenant
	DB       *DB
	Location *time.Location // the tenant's time zone

	m    *Manager
	e    *entry
	once sync.Once
}

// Release gives the handle back. It is safe to call more than once. (The lease ProvisionWith
// lends its setup belongs to no Manager: releasing it does nothing.)
func (l *Lease) Release() {
	if l.m != nil {
		l.once.Do(func() { l.m.release(l.e) })
	}
}

// Acquire returns a lease on t's database, opening and migrating it first if needed. It waits
// while another caller opens or migrates t, while an exclusive operation (delete, restore) runs
// on t, and while every open slot is leased; ctx bounds each wait.
func (m *Manager) Acquire(ctx context.Context, t Tenant) (*Lease, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if until, ok := m.faulted[t.ID]; ok {
			if m.cfg.Now().Before(until) {
				m.mu.Unlock()
				return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, t.Slug, ErrCorrupt)
			}
			delete(m.faulted, t.ID) // look at its file again
		}
		e := m.entryLocked(t.ID)
		if gate := e.exclusive; gate != nil {
			m.mu.Unlock()
			select {
			case <-gate:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("tenant %s: %w", t.Slug, ctx.Err())
			}
		}
		e.refs++
		if e.idleElem != nil {
			m.idle.Remove(e.idleElem)
			e.idleElem = nil
		}
		db := e.db
		m.mu.Unlock()

		if db == nil {
			var err error
			if db, err = m.openEntry(ctx, e, t); err != nil {
				m.release(e)
				return nil, err
			}
		}
		return &Lease{Tenant: t, DB: db, Location: m.zone(t.Timezone), m: m, e: e}, nil
	}
}

// AcquireBounded is Acquire waiting at most Config.AcquireWait: for requests and for jobs that
// go through many tenants, where one stuck tenant must not hold up the rest. The lease, once
// had, is not bound to that deadline.
func (m *Manager) AcquireBounded(ctx context.Context, t Tenant) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.AcquireWait)
	defer cancel()
	return m.Acquire(ctx, t)
}

// openEntry opens and migrates e's database under the tenant's lock.
func (m *Manager) openEntry(ctx context.Context, e *entry, t Tenant) (*DB, error) {
	start := m.cfg.Now()
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for tenant %s: %w", t.Slug, ctx.Err())
	}
	defer func() { <-e.lock }()

	m.mu.Lock()
	db, failed := e.db, e.failed
	if failed != nil && e.failedAt.Before(start) {
		failed = nil // an older failure: this is the next attempt, so retry
	}
	m.mu.Unlock()
	if db != nil || failed != nil {
		return db, failed
	}

	if err := m.reserveSlot(ctx); err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	// The open and migration are shared by everyone waiting for this tenant: a caller that goes
	// away must not interrupt them (and get the tenant marked failed).
	db, err := m.openAndMigrate(context.WithoutCancel(ctx), t)
	if err == nil {
		err = m.replicate(context.WithoutCancel(ctx), t, db)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.open--
		if errors.Is(err, ErrUnavailable) {
			// Waiters get this result instead of each retrying a broken migration.
			e.failed, e.failedAt = err, m.cfg.Now()
		}
		m.broadcastLocked()
		return nil, err
	}
	e.db, e.failed = db, nil
	return db, nil
}

// reserveSlot counts one more open handle, closing the least recently used idle handle when the
// cap is reached, or waiting for a lease to end when every open handle is in use.
func (m *Manager) reserveSlot(ctx context.Context) error {
	for {
		m.mu.Lock()
		if m.open < m.cfg.MaxOpen {
			m.open++
			m.mu.Unlock()
			return nil
		}
		if back := m.idle.Back(); back != nil {
			victim := back.Value.(*entry)
			db := m.detachLocked(victim)
			m.mu.Unlock()
			m.closeDB(victim.id, db) // its slot becomes ours once it is closed
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("all %d open tenant handles are in use: %w", m.cfg.MaxOpen, ctx.Err())
		}
	}
}

// openAndMigrate opens t's database and applies its pending migrations, mirroring the result in
// the registry. A failed migration leaves the tenant closed and marked failed; so does a file
// that is not the one the registry describes (missing, empty, behind the registry's schema
// version, damaged): such a file is never migrated from zero or served.
func (m *Manager) openAndMigrate(ctx context.Context, t Tenant) (*DB, error) {
	path, err := m.Path(t.ID)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	missing := "is missing"
	if errors.Is(err, os.ErrNotExist) && m.cfg.RestoreMissing != nil {
		switch rerr := m.restoreMissing(ctx, t, path); {
		case rerr == nil:
			fi, err = os.Stat(path)
		case errors.Is(rerr, ErrNotFound):
			return nil, fmt.Errorf("open tenant %s: database file is gone (deleted): %w", t.Slug, ErrNotFound)
		case errors.Is(rerr, ErrNoReplicaCopy):
			missing = "is missing and the replica holds no copy"
		default:
			// The store may answer later: nothing to mark, the next open tries again.
			return nil, fmt.Errorf("open tenant %s: %w", t.Slug, rerr)
		}
	}
	if err != nil || fi.Size() == 0 {
		// Deleted while this request waited, or lost: only the registry can tell which.
		if _, gerr := m.reg.Get(ctx, t.ID); errors.Is(gerr, ErrNotFound) {
			return nil, fmt.Errorf("open tenant %s: database file is gone (deleted): %w", t.Slug, ErrNotFound)
		}
		what := missing
		if err == nil {
			what = "is empty (0 bytes)"
		}
		return nil, m.markDamaged(ctx, t, fmt.Errorf("%w: %s %s", ErrCorrupt, path, what))
	}
	db, err := openDB(path, openOptions{readConns: m.cfg.ReadConns})
	if err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	if err := m.checkFile(ctx, &t, db); err != nil {
		_ = db.Close() // the failure above is the one to report
		if IsCorrupt(err) {
			return nil, m.markDamaged(ctx, t, err)
		}
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	// Most opens find the schema current: a reader confirms it, and the writer stays closed until
	// the tenant writes. Anything else (behind, new, broken) goes through migrate on the writer;
	// a tenant the registry knows to be behind goes there at once (one connection fewer).
	if t.SchemaVersion >= m.latest || t.MigrationStatus != MigrationOK {
		if v, err := schemaVersion(ctx, db.Read); err == nil && v == m.latest && requireWAL(ctx, db.Read) == nil {
			m.mirrorSchema(ctx, t, v)
			return db, nil
		}
	}
	from, to, err := migrate(ctx, db.Write, m.cfg.Migrations, m.cfg.Now)
	var stepErr *MigrationError
	var newErr *SchemaTooNewError
	if err != nil && IsCorrupt(err) {
		_ = db.Close() // the failure above is the one to report
		return nil, m.markDamaged(ctx, t, err)
	}
	if err != nil && !errors.As(err, &stepErr) && !errors.As(err, &newErr) {
		// Not the schema's fault (out of files, disk error): nothing to mark, try again later.
		_ = db.Close() // the failure above is the one to report
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	if m.cfg.OnMigrate != nil && (err != nil || from != to) {
		m.cfg.OnMigrate(t, from, to, err)
	}
	if err != nil {
		_ = db.Close() // the failure above is the one to report
		m.cfg.Logger.ErrorContext(ctx, "tenant migration failed", "tenant", t.Slug, "tenant_id", t.ID,
			"version", to, "target", m.latest, "err", err)
		// Mirror with a fresh context: the request may be gone, the record must still be made.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := m.reg.SetSchema(mctx, t.ID, to, MigrationFailed, err.Error()); rerr != nil {
			m.cfg.Logger.ErrorContext(ctx, "record migration failure", "tenant", t.Slug, "err", rerr)
		}
		return nil, fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, t.Slug, err)
	}
	if from != to {
		m.cfg.Logger.InfoContext(ctx, "tenant migrated", "tenant", t.Slug, "from", from, "to", to)
	}
	m.mirrorSchema(ctx, t, to)
	return db, nil
}

// checkFile checks, through db's readers, that the file is the one the registry describes in
// *t: readable, and at least at the schema version the registry recorded (a file behind it was
// replaced or truncated; migrating it would serve an empty business). A tenant the registry
// marks failed (a damaged file, or a migration that failed) gets a full quick_check before it
// is served again. *t is refreshed from the registry when the file is behind a possibly stale
// copy (a restore to an older backup lowers the recorded version).
func (m *Manager) checkFile(ctx context.Context, t *Tenant, db *DB) error {
	v, err := fileSchemaVersion(ctx, db.Read)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v < t.SchemaVersion {
		if fresh, err := m.reg.Get(ctx, t.ID); err == nil {
			*t = fresh
		}
		if v < t.SchemaVersion {
			return fmt.Errorf("%w: the file is at schema version %d but the registry recorded %d (replaced or truncated?)",
				ErrCorrupt, v, t.SchemaVersion)
		}
	}
	if t.MigrationStatus == MigrationFailed {
		var res string
		if err := db.Read.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&res); err != nil {
			return fmt.Errorf("quick_check: %w", err)
		}
		if res != "ok" {
			return fmt.Errorf("%w: quick_check: %s", ErrCorrupt, res)
		}
	}
	return nil
}

// FileProblem says what is wrong with t's database file that can be seen without opening it
// (missing, empty), or "" when nothing is. The file of a tenant being deleted is gone too:
// callers ask about tenants the registry still lists.
func (m *Manager) FileProblem(t Tenant) (string, error) {
	path, err := m.Path(t.ID)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return path + " is missing", nil
	case err != nil:
		return "", err
	case fi.Size() == 0:
		return path + " is empty (0 bytes)", nil
	}
	return "", nil
}

// MarkMissingFiles marks failed every tenant whose database file is missing or empty (see
// FileProblem), so that the operator sees it in tenants list and /readyz before a request
// meets it. serve calls it at start; it returns how many it marked.
func (m *Manager) MarkMissingFiles(ctx context.Context) (int, error) {
	ts, err := m.reg.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		problem, err := m.FileProblem(t)
		if err != nil {
			return n, err
		}
		if problem == "" || t.MigrationStatus == MigrationFailed {
			continue
		}
		if m.cfg.RestoreMissing != nil && strings.HasSuffix(problem, " is missing") {
			continue // restored from the replica when it is first opened
		}
		_ = m.markDamaged(ctx, t, fmt.Errorf("%w: %s", ErrCorrupt, problem)) // logged there
		n++
	}
	return n, nil
}

// fileSchemaVersion is schemaVersion that reads a file without the migrations table as version 0
// (without creating the table: readers are query-only).
func fileSchemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return schemaVersion(ctx, q)
}

// markDamaged records that t's database is damaged (cause wraps ErrCorrupt or is SQLite's
// corruption error): logged at ERROR for the operator, the tenant marked failed with the cause
// in the registry (reserva tenants list, /readyz), and answered 503 by this process for
// FaultRetry without touching the file again. It returns the error for the caller.
func (m *Manager) markDamaged(ctx context.Context, t Tenant, cause error) error {
	m.cfg.Logger.ErrorContext(ctx, "tenant database damaged: marked failed; restore it from a backup",
		"tenant", t.Slug, "tenant_id", t.ID, "err", cause)
	m.mu.Lock()
	m.faulted[t.ID] = m.cfg.Now().Add(m.cfg.FaultRetry)
	m.mu.Unlock()
	// A fresh context: the request may be gone, the record must still be made. The recorded
	// version stays: it is what a good file has.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	msg := cause.Error()
	if !errors.Is(cause, ErrCorrupt) {
		msg = ErrCorrupt.Error() + ": " + msg
	}
	if err := m.reg.SetSchema(mctx, t.ID, t.SchemaVersion, MigrationFailed, msg); err != nil {
		m.cfg.Logger.ErrorContext(ctx, "record damaged tenant", "tenant", t.Slug, "err", err)
	}
	m.cache.forget(t.ID)
	return fmt.Errorf("%w: tenant %s: %w", ErrUnavailable, t.Slug, cause)
}

// Fault tells the Manager that err happened while serving the tenant of ctx's lease (a request
// or a job). When err shows the tenant's file damaged, the tenant is marked failed (see
// markDamaged), its handle is closed once its leases end, and Fault returns true. Handlers call
// it with every server error; it is cheap for the others.
func Fault(ctx context.Context, err error) bool {
	l, ok := FromContext(ctx)
	if !ok || err == nil || !IsCorrupt(err) {
		return false
	}
	l.m.fault(ctx, l.Tenant, err)
	return true
}

func (m *Manager) fault(ctx context.Context, t Tenant, err error) {
	m.mu.Lock()
	until, already := m.faulted[t.ID]
	already = already && m.cfg.Now().Before(until)
	m.mu.Unlock()
	if !already {
		_ = m.markDamaged(ctx, t, err) // logged there; the caller reports err itself
	}
}

// mirrorSchema records in the registry that t is healthy at version v, unless it already says so.
func (m *Manager) mirrorSchema(ctx context.Context, t Tenant, v int) {
	if v == t.SchemaVersion && t.MigrationStatus == MigrationOK {
		return
	}
	if err := m.reg.SetSchema(ctx, t.ID, v, MigrationOK, ""); err != nil {
		m.cfg.Logger.ErrorContext(ctx, "record schema version", "tenant", t.Slug, "err", err)
	}
	m.cache.forget(t.ID) // its next lookup reads the version just recorded; other tenants keep theirs
}

func (m *Manager) entryLocked(id string) *entry {
	e := m.entries[id]
	if e == nil {
		e = &entry{id: id, lock: make(chan struct{}, 1)}
		m.entries[id] = e
	}
	return e
}

// dropLocked forgets e when nothing refers to it any more.
func (m *Manager) dropLocked(e *entry) {
	if e.refs == 0 && e.db == nil && e.exclusive == nil && m.entries[e.id] == e {
		delete(m.entries, e.id)
	}
}

// detachLocked takes e's handle away from it. The handle's slot stays counted until the caller
// closes it outside the mutex with closeAndFree (or reuses the slot), so the number of open
// databases never exceeds the cap, not even for a moment.
func (m *Manager) detachLocked(e *entry) *DB {
	db := e.db
	if e.idleElem != nil {
		m.idle.Remove(e.idleElem)
		e.idleElem = nil
	}
	e.db = nil
	m.dropLocked(e)
	return db
}

// closeAndFree closes a detached handle, then frees its slot.
func (m *Manager) closeAndFree(id string, db *DB) {
	if db == nil {
		return
	}
	m.closeDB(id, db)
	m.mu.Lock()
	m.open--
	m.broadcastLocked()
	m.mu.Unlock()
}

func (m *Manager) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Manager) release(e *entry) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e.refs--
	e.lastUsed = now
	m.seen[e.id] = now
	if e.refs > 0 {
		return
	}
	_, faulted := m.faulted[e.id]
	switch {
	case e.db != nil && (m.closed || faulted):
		// Close gave up waiting for this lease, or the file was found damaged: close the
		// handle now rather than leak it or serve from it again.
		db := m.detachLocked(e)
		go m.closeAndFree(e.id, db)
	case e.db != nil:
		e.idleElem = m.idle.PushFront(e)
	default:
		m.dropLocked(e)
	}
	m.broadcastLocked()
}

func (m *Manager) closeDB(id string, db *DB) {
	if db == nil {
		return
	}
	if err := db.Close(); err != nil {
		m.cfg.Logger.Error("close tenant database", "tenant_id", id, "err", err)
	}
}

// Exclusive runs fn on tenant id with no handle open and no lease out: it stops new leases,
// waits for the in-flight ones to end, closes the handle, then runs fn (which may remove or
// replace the database file). Acquire calls made meanwhile wait and then see fn's result.
// The wait ends with ctx, and at the latest after Config.ExclusiveWait: a lease that is never
// given back (a caller that holds one while it deletes) makes Exclusive fail, not hang with
// every other caller of the tenant waiting behind it.
func (m *Manager) Exclusive(ctx context.Context, id string, fn func() error) error {
	wctx, cancel := context.WithTimeout(ctx, m.cfg.ExclusiveWait)
	defer cancel()
	m.mu.Lock()
	e := m.entryLocked(id)
	for e.exclusive != nil {
		gate := e.exclusive
		m.mu.Unlock()
		select {
		case <-gate:
		case <-wctx.Done():
			return fmt.Errorf("wait for another operation on tenant %s: %w", id, wctx.Err())
		}
		m.mu.Lock()
		e = m.entryLocked(id)
	}
	gate := make(chan struct{})
	e.exclusive = gate
	m.evictLocked(e)
	m.mu.Unlock()

	defer func() {
		m.mu.Lock()
		e.exclusive = nil
		close(gate)
		m.dropLocked(e)
		m.mu.Unlock()
	}()

	for {
		m.mu.Lock()
		if e.refs == 0 {
			db := m.detachLocked(e)
			m.mu.Unlock()
			m.closeAndFree(id, db)
			break
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-wctx.Done():
			return fmt.Errorf("tenant %s is still in use (%d leases) after waiting: try again later: %w",
				id, m.Leases(id), wctx.Err())
		}
	}
	return fn()
}

// Stats describes the Manager's handles.
type Stats struct {
	Open    int // handles open (or being opened)
	Idle    int // open handles with no lease
	MaxOpen int
}

// Stats returns the current handle counts.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Open: m.open, Idle: m.idle.Len(), MaxOpen: m.cfg.MaxOpen}
}

// Leases returns how many leases of tenant id are out (requests, jobs, live subscriptions).
func (m *Manager) Leases(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[id]; e != nil {
		return e.refs
	}
	return 0
}

// Visit runs fn on a lease of t for a job that goes through many tenants: a tenant that was
// closed before is closed again after, so the visit never pushes the tenants requests are using
// out of the handle cache.
func (m *Manager) Visit(ctx context.Context, t Tenant, fn func(*Lease) error) error {
	wasOpen := m.isOpen(t.ID)
	l, err := m.AcquireBounded(ctx, t)
	if err != nil {
		return err
	}
	err = fn(l)
	if IsCorrupt(err) {
		m.fault(ctx, t, err)
	}
	l.Release()
	if !wasOpen {
		m.closeIfIdle(t.ID)
	}
	return err
}

// isOpen reports whether tenant id's database is open now.
func (m *Manager) isOpen(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	return e != nil && e.db != nil
}

// closeIfIdle closes tenant id's database if nobody uses it. Jobs that visit idle tenants
// (sweep, backups) call it after their visit, so they do not push the tenants that requests are
// using out of the handle cache.
func (m *Manager) closeIfIdle(id string) {
	m.mu.Lock()
	e := m.entries[id]
	if e == nil || e.refs > 0 || e.db == nil || e.exclusive != nil {
		m.mu.Unlock()
		return
	}
	db := m.detachLocked(e)
	m.mu.Unlock()
	m.closeAndFree(id, db)
}

// CloseIdle closes handles that have had no lease for at least d and returns how many it closed.
func (m *Manager) CloseIdle(d time.Duration) int {
	cutoff := m.cfg.Now().Add(-d)
	type victim struct {
		id string
		db *DB
	}
	var victims []victim
	m.mu.Lock()
	for el := m.idle.Back(); el != nil; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.lastUsed.After(cutoff) {
			break // the list is ordered by last use
		}
		victims = append(victims, victim{e.id, m.detachLocked(e)})
		el = prev
	}
	m.mu.Unlock()
	for _, v := range victims {
		m.closeAndFree(v.id, v.db)
	}
	return len(victims)
}

// flushSeen writes the batched last-seen times to the registry.
func (m *Manager) flushSeen(ctx context.Context) {
	m.mu.Lock()
	seen := m.seen
	m.seen = map[string]time.Time{}
	m.mu.Unlock()
	if err := m.reg.Touch(ctx, seen); err != nil {
		m.cfg.Logger.ErrorContext(ctx, "flush last-seen times", "err", err)
	}
}

// janitor closes idle handles and flushes last-seen times until Close.
func (m *Manager) janitor() {
	every := max(min(m.cfg.IdleTimeout/2, 30*time.Second), 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.CloseIdle(m.cfg.IdleTimeout)
			m.flushSeen(context.Background())
			m.checkOpenFiles(context.Background())
		}
	}
}

// checkOpenFiles marks damaged every open tenant whose file has gone missing or empty since it
// was opened (see FileProblem). SQLite goes on answering from the pages it holds in memory, and
// public pages come from the catalog in memory, until a request reads further: the business
// looked fine (200, tenants list "ok") while its data was gone. One stat per open tenant.
func (m *Manager) checkOpenFiles(ctx context.Context) {
	m.mu.Lock()
	var ids []string
	for id, e := range m.entries {
		if _, faulted := m.faulted[id]; e.db != nil && e.exclusive == nil && !faulted {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		problem, err := m.FileProblem(Tenant{ID: id})
		if err != nil || problem == "" {
			continue
		}
		// Still open, and no delete or restore began (they close the handle before they touch
		// the file): the file was lost, not erased or replaced on purpose.
		m.mu.Lock()
		e, ok := m.entries[id]
		open := ok && e.db != nil && e.exclusive == nil
		m.mu.Unlock()
		if !open {
			continue
		}
		t, err := m.reg.Get(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		m.fault(ctx, t, fmt.Errorf("%w: %s", ErrCorrupt, problem))
	}
}

// Close waits for every lease to end (or ctx), then closes every tenant database. Acquire fails
// with ErrClosed from the moment Close is called.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	m.bg.Wait()

	var err error
	for {
		m.mu.Lock()
		busy := 0
		var dbs []*DB
		for _, e := range m.entries {
			if e.refs > 0 {
				busy++
				continue
			}
			if db := m.detachLocked(e); db != nil {
				dbs = append(dbs, db)
			}
		}
		ch := m.changed
		m.mu.Unlock()
		for _, db := range dbs {
			err = errors.Join(err, db.CloseContext(ctx)) // one deadline for every final sync
		}
		m.mu.Lock()
		m.open -= len(dbs)
		m.mu.Unlock()
		if busy == 0 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("close tenants: %d still in use: %w", busy, ctx.Err()))
		}
	}
	m.flushSeen(context.WithoutCancel(ctx))
	return err
}

// zone returns the location named name (UTC if the name is unknown, which Provision prevents).
func (m *Manager) zone(name string) *time.Location {
	if loc, ok := m.zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		m.cfg.Logger.Error("unknown tenant time zone; using UTC", "timezone", name, "err", err)
		loc = time.UTC
	}
	m.zones.Store(name, loc)
	return loc
}
