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

// Failed returns the tenants marked failed (a failed migration, a damaged database file).
func (r *SQLiteRegistry) Failed(ctx context.Context) ([]Tenant, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE migration_status = ? ORDER BY slug`, MigrationFailed)
	if err != nil {
		return nil, fmt.Errorf("list failed tenants: %w", err)
	}
	defer rows.Close()
	var ts []Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list failed tenants: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

const tenantColumns = `id, slug, name, timezone, status, schema_version, migration_status, last_error, created_at, last_seen_at`

func scanTenant(row interface{ Scan(...any) error }) (Tenant, error) {
	var t Tenant
	var seen sql.NullTime
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Timezone, &t.Status, &t.SchemaVersion,
		&t.MigrationStatus, &t.LastError, &t.CreatedAt, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.LastSeenAt = seen.Time
	return t, err
}

func (r *SQLiteRegistry) Create(ctx context.Context, t Tenant, fromSpare bool) error {
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		if err := r.slugFree(ctx, tx, t.Slug, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM slug_redirects WHERE slug = ?`, t.Slug); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM spares WHERE id = ?`, t.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); fromSpare && n != 1 {
			return ErrSpareTaken
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tenants (`+tenantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
			t.ID, t.Slug, t.Name, t.Timezone, t.Status, t.SchemaVersion, t.MigrationStatus, t.LastError, t.CreatedAt.UTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("register tenant %s: %w", t.Slug, err)
	}
	return nil
}

// slugFree fails with ErrSlugTaken when a tenant has slug, a tenant deleted within the grace
// period had it, or another tenant than owner ("" for a new one) was renamed away from it
// within the grace period: links mailed with an old slug must not reach a stranger's site. A
// tenant may always take back its own old slug; once the grace period is over, an old slug is
// free, and the new owner takes over its redirect.
func (r *SQLiteRegistry) slugFree(ctx context.Context, tx *sql.Tx, slug, owner string) error {
	var n int
	cutoff := r.now().Add(-r.grace).UTC()
	err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tenants WHERE slug = ?) +
		(SELECT count(*) FROM tombstones WHERE slug = ? AND deleted_at > ?) +
		(SELECT count(*) FROM slug_redirects WHERE slug = ? AND tenant_id != ? AND created_at > ?)`,
		slug, slug, cutoff, slug, owner, cutoff).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %q belongs to another business (or did recently)", ErrSlugTaken, slug)
	}
	return nil
}

func (r *SQLiteRegistry) Get(ctx context.Context, id string) (Tenant, error) {
	return scanTenant(r.db.Read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = ?`, id))
}

func (r *SQLiteRegistry) BySlug(ctx context.Context, slug string) (Tenant, error) {
	return scanTenant(r.db.Read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = ?`, slug))
}

func (r *SQLiteRegistry) ByHost(ctx context.Context, host string) (Tenant, error) {
	return scanTenant(r.db.Read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE id = (SELECT tenant_id FROM custom_hosts WHERE host = ?)`, host))
}

func (r *SQLiteRegistry) Redirect(ctx context.Context, oldSlug string) (string, error) {
	var slug string
	err := r.db.Read.QueryRowContext(ctx, `SELECT t.slug FROM slug_redirects s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.slug = ?`, oldSlug).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return slug, err
}

func (r *SQLiteRegistry) List(ctx context.Context) ([]Tenant, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY slug`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var ts []Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

func (r *SQLiteRegistry) Rename(ctx context.Context, id, slug string) error {
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT slug FROM tenants WHERE id = ?`, id).Scan(&old); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if old == slug {
			return nil
		}
		if err := r.slugFree(ctx, tx, slug, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM slug_redirects WHERE slug = ?`, slug)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE tenants SET slug = ? WHERE id = ?`, slug, id)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO slug_redirects (slug, tenant_id, created_at) VALUES (?, ?, ?)`,
				old, id, r.now().UTC())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("rename tenant to %s: %w", slug, err)
	}
	return nil
}

func (r *SQLiteRegistry) SetHost(ctx context.Context, host, id string) error {
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM custom_hosts WHERE host = ?`, host).Scan(&owner)
		switch {
		case err == nil && owner == id:
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s serves another business; remove it there first", ErrHostTaken, host)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO custom_hosts (host, tenant_id, created_at) VALUES (?, ?, ?)`, host, id, r.now().UTC())
		if isConstraint(err) {
			return ErrNotFound // the tenant does not exist (foreign key)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set host %s: %w", host, err)
	}
	return nil
}

func (r *SQLiteRegistry) RemoveHost(ctx context.Context, host, id string) error {
	res, err := r.db.Write.ExecContext(ctx, `DELETE FROM custom_hosts WHERE host = ? AND tenant_id = ?`, host, id)
	if err != nil {
		return fmt.Errorf("remove host %s: %w", host, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s is not a host of this business", ErrNotFound, host)
	}
	return nil
}

func (r *SQLiteRegistry) Delete(ctx context.Context, id string) error {
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		now := r.now().UTC()
		// The tombstone holds the slug, not who had it: the id is erased with the rest.
		_, err := tx.ExecContext(ctx, `INSERT INTO tombstones (slug, tenant_id, deleted_at)
			SELECT slug, '', ? FROM tenants WHERE id = ?
			UNION ALL SELECT slug, '', ? FROM slug_redirects WHERE tenant_id = ?
			ON CONFLICT (slug) DO UPDATE SET tenant_id = excluded.tenant_id, deleted_at = excluded.deleted_at`,
			now, id, now, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		// Its backup records and stats go with it (the backups themselves are blobs, removed by
		// the caller first).
		for _, q := range []string{`DELETE FROM backups WHERE tenant_id = ?`, `DELETE FROM tenant_stats WHERE tenant_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete tenant %s from registry: %w", id, err)
	}
	// secure_delete zeroed the rows in the pages written now; older copies of those pages live
	// on in the WAL until it is checkpointed and truncated.
	if err := r.db.Checkpoint(ctx); err != nil {
		return fmt.Errorf("delete tenant %s from registry: checkpoint: %w", id, err)
	}
	return nil
}

func (r *SQLiteRegistry) SetTimezone(ctx context.Context, id, tz string) error {
	res, err := r.db.Write.ExecContext(ctx, `UPDATE tenants SET timezone = ? WHERE id = ?`, tz, id)
	if err != nil {
		return fmt.Errorf("set time zone of tenant %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (r *SQLiteRegistry) SetSchema(ctx context.Context, id string, version int, status, lastErr string) error {
	_, err := r.db.Write.ExecContext(ctx, `UPDATE tenants SET schema_version = ?, migration_status = ?, last_error = ?
		WHERE id = ?`, version, status, lastErr, id)
	if err != nil {
		return fmt.Errorf("record schema of tenant %s: %w", id, err)
	}
	return nil
}

func (r *SQLiteRegistry) Touch(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE tenants SET last_seen_at = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, at := range seen {
			if _, err := stmt.ExecContext(ctx, at.UTC(), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record last seen: %w", err)
	}
	return nil
}

func (r *SQLiteRegistry) AddSpare(ctx context.Context, id string, version int) error {
	_, err := r.db.Write.ExecContext(ctx, `INSERT INTO spares (id, schema_version, created_at) VALUES (?, ?, ?)`,
		id, version, r.now().UTC())
	if err != nil {
		return fmt.Errorf("add spare %s: %w", id, err)
	}
	return nil
}

func (r *SQLiteRegistry) Spares(ctx context.Context) (map[string]int, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT id, schema_version FROM spares`)
	if err != nil {
		return nil, fmt.Errorf("list spares: %w", err)
	}
	defer rows.Close()
	spares := map[string]int{}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("list spares: %w", err)
		}
		spares[id] = v
	}
	return spares, rows.Err()
}

func (r *SQLiteRegistry) RemoveSpare(ctx context.Context, id string) (bool, error) {
	res, err := r.db.Write.ExecContext(ctx, `DELETE FROM spares WHERE id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("remove spare %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (r *SQLiteRegistry) AddBackup(ctx context.Context, b Backup) error {
	_, err := r.db.Write.ExecContext(ctx, `INSERT INTO backups (id, tenant_id, blob_key, schema_version, size_bytes, sha256,
		created_at, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.TenantID, b.Key, b.SchemaVersion, b.SizeBytes,
		b.SHA256, sortableTime(b.CreatedAt), sortableTime(b.VerifiedAt))
	if err != nil {
		return fmt.Errorf("record backup %s: %w", b.ID, err)
	}
	return nil
}

func (r *SQLiteRegistry) Backups(ctx context.Context, tenantID string) ([]Backup, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT id, tenant_id, blob_key, schema_version, size_bytes, sha256, created_at,
		verified_at FROM backups WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	defer rows.Close()
	var out []Backup
	for rows.Next() {
		var b Backup
		var verified sql.NullTime
		if err := rows.Scan(&b.ID, &b.TenantID, &b.Key, &b.SchemaVersion, &b.SizeBytes, &b.SHA256, &b.CreatedAt, &verified); err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		b.VerifiedAt = verified.Time
		out = append(out, b)
	}
	return out, rows.Err()
}

func (r *SQLiteRegistry) DeleteBackup(ctx context.Context, id string) error {
	if _, err := r.db.Write.ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete backup %s: %w", id, err)
	}
	return nil
}

func (r *SQLiteRegistry) SetStats(ctx context.Context, s DailyStats) error {
	_, err := r.db.Write.ExecContext(ctx, `INSERT INTO tenant_stats (tenant_id, day, bookings_created, bookings_cancelled, customers)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, day) DO UPDATE SET bookings_created = excluded.bookings_created,
		bookings_cancelled = excluded.bookings_cancelled, customers = excluded.customers`,
		s.TenantID, s.Day, s.BookingsCreated, s.BookingsCancelled, s.Customers)
	if err != nil {
		return fmt.Errorf("record stats: %w", err)
	}
	return nil
}

func (r *SQLiteRegistry) Stats(ctx context.Context, day string) ([]DailyStats, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT s.tenant_id, t.slug, s.day, s.bookings_created, s.bookings_cancelled, s.customers
		FROM tenant_stats s JOIN tenants t ON t.id = s.tenant_id WHERE s.day = ? ORDER BY s.bookings_created DESC, t.slug`, day)
	if err != nil {
		return nil, fmt.Errorf("read stats: %w", err)
	}
	defer rows.Close()
	var out []DailyStats
	for rows.Next() {
		var s DailyStats
		if err := rows.Scan(&s.TenantID, &s.Slug, &s.Day, &s.BookingsCreated, &s.BookingsCancelled, &s.Customers); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// sortableTime writes t with a fixed number of fractional digits, so that the registry's text
// order of times is their time order.
func sortableTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
