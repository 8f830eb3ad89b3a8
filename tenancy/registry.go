package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/reserva/reserva/migrations"
)

// Tenant is one business as the registry knows it.
type Tenant struct {
	ID              string // random and opaque; names the database file
	Slug            string // first segment of the tenant's URLs
	Name            string
	Timezone        string // IANA name
	Status          TenantStatus
	SchemaVersion   int    // mirrored from the tenant database
	MigrationStatus string // ok or failed
	LastError       string // why the last migration failed
	CreatedAt       time.Time
	LastSeenAt      time.Time // zero until first served; updated in batches
}

// TenantStatus says whether a tenant serves (registry tenants.status).
type TenantStatus string

const (
	TenantActive    TenantStatus = "active"
	TenantSuspended TenantStatus = "suspended" // its requests are answered 503
)

// Migration status values.
const (
	MigrationOK     = "ok"
	MigrationFailed = "failed"
)

var (
	// ErrNotFound means no tenant has that id, slug or host.
	ErrNotFound = errors.New("tenant not found")
	// ErrSlugTaken means another tenant has, or recently had, that slug.
	ErrSlugTaken = errors.New("slug is taken")
	// ErrHostTaken means another tenant serves that custom host.
	ErrHostTaken = errors.New("host is taken")
	// ErrSpareTaken means the spare database was claimed by someone else.
	ErrSpareTaken = errors.New("spare already claimed")
)

// Registry is the control plane: it maps slugs and custom hosts to tenants and records each
// tenant's schema state. SQLiteRegistry is the embedded default; a distributed KV store can take
// its place on a cluster.
type Registry interface {
	// Create registers t. With fromSpare, t.ID must be an unclaimed spare, claimed in the same
	// transaction (ErrSpareTaken otherwise). Errors: ErrSlugTaken.
	Create(ctx context.Context, t Tenant, fromSpare bool) error
	Get(ctx context.Context, id string) (Tenant, error)
	BySlug(ctx context.Context, slug string) (Tenant, error)
	ByHost(ctx context.Context, host string) (Tenant, error)
	// Redirect returns the current slug of the tenant that used to be at oldSlug.
	Redirect(ctx context.Context, oldSlug string) (string, error)
	List(ctx context.Context) ([]Tenant, error)
	// Rename gives tenant id slug; its old slug redirects to it and is held for the grace period
	// (only id may take it back meanwhile). Errors: ErrNotFound, ErrSlugTaken.
	Rename(ctx context.Context, id, slug string) error
	SetTimezone(ctx context.Context, id, tz string) error  // ErrNotFound
	SetHost(ctx context.Context, host, id string) error    // ErrHostTaken, ErrNotFound
	RemoveHost(ctx context.Context, host, id string) error // ErrNotFound
	// Delete removes the tenant and leaves a tombstone that holds its slug for the grace period.
	Delete(ctx context.Context, id string) error
	SetSchema(ctx context.Context, id string, version int, status, lastErr string) error
	Touch(ctx context.Context, seen map[string]time.Time) error

	// Spares are pre-made empty tenant databases; Create claims the one whose id it is given.
	AddSpare(ctx context.Context, id string, version int) error
	Spares(ctx context.Context) (map[string]int, error) // id → schema version
	RemoveSpare(ctx context.Context, id string) (removed bool, err error)

	SetStats(ctx context.Context, s DailyStats) error
	Stats(ctx context.Context, day string) ([]DailyStats, error)

	AddBackup(ctx context.Context, b Backup) error
	Backups(ctx context.Context, tenantID string) ([]Backup, error) // newest first
	DeleteBackup(ctx context.Context, id string) error
	Close() error
}

// DailyStats are one tenant's counts for one UTC day (cross-tenant analytics).
type DailyStats struct {
	TenantID          string
	Slug              string // filled by Stats
	Day               string // YYYY-MM-DD, UTC
	BookingsCreated   int
	BookingsCancelled int
	Customers         int // all customers at the end of the day
}

// Backup is one verified, compressed copy of a tenant's database in the blob store.
type Backup struct {
	ID            string
	TenantID      string
	Key           string // blob key
	SchemaVersion int
	SizeBytes     int64 // compressed
	SHA256        string
	CreatedAt     time.Time
	VerifiedAt    time.Time
}

// SQLiteRegistry is the Registry in one SQLite file (data/registry.db).
type SQLiteRegistry struct {
	db    *DB
	grace time.Duration
	now   func() time.Time
}

// DefaultSlugGrace is how long a deleted tenant's slugs, and a renamed tenant's old slug, stay
// unavailable to others.
const DefaultSlugGrace = 30 * 24 * time.Hour

// OpenRegistry opens (creating it if needed) the registry at path and applies its pending
// migrations. grace is how long a deleted tenant's slugs, and a renamed tenant's old slug, stay
// taken. An existing registry is checked first (quick_check): a damaged one is an error, never
// started afresh or half-read.
func OpenRegistry(ctx context.Context, path string, grace time.Duration) (*SQLiteRegistry, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	db, err := openDB(path, openOptions{create: true, readConns: 4, secureDelete: true})
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	r := &SQLiteRegistry{db: db, grace: grace, now: time.Now}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := r.Check(ctx); err != nil {
			_ = db.Close() // the failure above is the one to report
			return nil, fmt.Errorf("registry %s: %w (restore it from a copy; the tenant databases are untouched)", path, err)
		}
	}
	if _, _, err := migrate(ctx, db.Write, migrations.Registry(), r.now); err != nil {
		_ = db.Close() // the failure above is the one to report
		return nil, fmt.Errorf("migrate registry %s: %w", path, err)
	}
	return r, nil
}

// RegistryBlank reports whether the registry file at path is an SQLite database without a
// single table: a registry that was lost and replaced by an empty file, which opening would
// migrate into a new platform. It opens the file read-only and changes nothing.
func RegistryBlank(path string) (bool, error) {
	db, err := sql.Open("sqlite3", FileURL(path)+"?mode=ro")
	if err != nil {
		return false, err
	}
	defer func() { _ = db.Close() }() // read-only check: nothing to lose
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return false, fmt.Errorf("read registry %s: %w", path, err)
	}
	return n == 0, nil
}

// Close closes the registry database.
func (r *SQLiteRegistry) Close() error { return r.db.Close() }

// ChangeCounter returns a number that changes whenever something a lookup returns changes, by this
// process or another one (the CLI): a revision that triggers bump (migration 0002). Last-seen
// times, schema mirrors, spares, backups and stats leave it alone.
func (r *SQLiteRegistry) ChangeCounter(ctx context.Context) (int64, error) {
	var v int64
	err := r.db.Read.QueryRowContext(ctx, `SELECT rev FROM lookup_revision`).Scan(&v)
	return v, err
}

// Ping checks that the registry answers.
func (r *SQLiteRegistry) Ping(ctx context.Context) error { return r.db.Read.PingContext(ctx) }

// Check runs SQLite's quick_check on the registry (at start-up and for readiness probes): an
// answering registry whose pages are damaged must not pass for a healthy one. The registry is
// small (one row per tenant, host, backup and day of stats), so the check is quick.
//
// It runs on a connection of its own, opened for the check: the pool's connections keep the
// pages they read in memory for as long as nothing is written, so a page damaged on disk while
// the server runs would pass on them until the process restarts (and then refuses to start).
func (r *SQLiteRegistry) Check(ctx context.Context) error {
	db, err := sql.Open("sqlite3", readerURL(r.db.path))
	if err != nil {
		return fmt.Errorf("check registry: %w", err)
	}
	defer func() { _ = db.Close() }() // read-only check: nothing to lose
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&res); err != nil {
		if IsCorrupt(err) {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return fmt.Errorf("check registry: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("%w: quick_check: %s", ErrCorrupt, res)
	}
	return nil
}
