package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

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
	if err != nil || fi.Size() == 0 {
		// Deleted while this request waited, or lost: only the registry can tell which.
		if _, gerr := m.reg.Get(ctx, t.ID); errors.Is(gerr, ErrNotFound) {
			return nil, fmt.Errorf("open tenant %s: database file is gone (deleted): %w", t.Slug, ErrNotFound)
		}
		what := "is missing"
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
