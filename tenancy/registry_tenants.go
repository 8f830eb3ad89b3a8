package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Failed returns the tenants marked failed (a failed migration, a damaged database file).
func (r *SQLiteRegistry) Failed(ctx context.Context) ([]Tenant, error) {
	return readAll(ctx, r.db.Read, "list failed tenants", scanTenant, `SELECT `+tenantColumns+` FROM tenants WHERE migration_status = ? ORDER BY slug`, MigrationFailed)
}

// readAll runs query on db and returns every row as scan reads it; an error says what was
// being read.
func readAll[T any](ctx context.Context, db *sql.DB, what string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
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
	return readAll(ctx, r.db.Read, "list tenants", scanTenant, `SELECT `+tenantColumns+` FROM tenants ORDER BY slug`)
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
