package tenancy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

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
	// EraseElsewhere, when set, erases what a tenant keeps outside the data directory and the
	// registry (its uploads and backups in the blob store) as a step of Delete: after its files,
	// before its registry row, so that running an interrupted Delete again finishes the job. The
	// Manager does not know where that is; whoever holds the store says (ops.EraseBlobs).
	EraseElsewhere func(ctx context.Context, id string) error
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
	// WriteFence, in cluster mode, is checked after a request's commits are in the replica and
	// before they are acknowledged (AckWrites): nil acknowledges; an error means this node may
	// no longer own the business (a successor claimed it) or cannot tell, and the write is
	// answered "outcome unknown". Nil (a single node): no check.
	WriteFence func(ctx context.Context, tenantID string) error
	// OnMigrate, when set, hears of every tenant migration attempt (for metrics): the versions
	// before and after, and the error of a failed step.
	OnMigrate func(t Tenant, from, to int, err error)
	Logger    *slog.Logger
	Now       func() time.Time
	// RestoreMissing, when set (a replica is configured), writes tenant t's database from the
	// replica into the new file dst (one file: no -wal or -shm beside it, which would stay
	// behind when dst is renamed), checked with integrity_check; ErrNoReplicaCopy when the
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

	hooks faultHooks // tests only
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
	// Sign-ups a crash interrupted after their registration, before RemoveLeftovers takes
	// their scratch files for abandoned ones (see provision_repair.go).
	if n, err := m.finishProvisioning(context.Background()); err != nil {
		cfg.Logger.Error("finish interrupted provisioning", "moved", n, "err", err)
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
// beside it on its tenants: backups use its clock and logger).
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
		err = errors.Join(err, closeAll(ctx, dbs))
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
