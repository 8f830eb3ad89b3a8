package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// TenantRecord is everything the registry says about a tenant that a lookup needs: its row,
// its old slugs (which redirect to its slug) and its custom hosts. In cluster mode the
// controller publishes each record, and every other node applies it to its own copy of the
// registry (ApplyRecord), so that lookups there work as on a single node.
type TenantRecord struct {
	Tenant   Tenant
	OldSlugs []string `json:",omitempty"`
	Hosts    []string `json:",omitempty"`
}

// Record returns tenant id's record. ErrNotFound: no such tenant.
func (r *SQLiteRegistry) Record(ctx context.Context, id string) (TenantRecord, error) {
	t, err := r.Get(ctx, id)
	if err != nil {
		return TenantRecord{}, err
	}
	rec := TenantRecord{Tenant: t}
	scan := func(row interface{ Scan(...any) error }) (string, error) {
		var s string
		return s, row.Scan(&s)
	}
	if rec.OldSlugs, err = readAll(ctx, r.db.Read, "list old slugs", scan,
		`SELECT slug FROM slug_redirects WHERE tenant_id = ? ORDER BY slug`, id); err != nil {
		return TenantRecord{}, err
	}
	if rec.Hosts, err = readAll(ctx, r.db.Read, "list custom hosts", scan,
		`SELECT host FROM custom_hosts WHERE tenant_id = ? ORDER BY host`, id); err != nil {
		return TenantRecord{}, err
	}
	return rec, nil
}

// ApplyRecord makes this registry's copy of rec.Tenant what rec says, in one transaction: its
// row (the last-seen time stays this registry's own), its old slugs and its hosts. Whatever
// here stands in the record's way is stale and goes: another tenant's row with the record's
// slug, another's old slug or host that the record now holds.
func (r *SQLiteRegistry) ApplyRecord(ctx context.Context, rec TenantRecord) error {
	t := rec.Tenant
	if t.ID == "" || t.Slug == "" {
		return fmt.Errorf("apply tenant record: bad id %q or slug %q", t.ID, t.Slug)
	}
	slugs := append([]string{t.Slug}, rec.OldSlugs...)
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		for _, s := range slugs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE slug = ? AND id <> ?`, s, t.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM slug_redirects WHERE slug = ?`, s); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM slug_redirects WHERE tenant_id = ?`, t.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM custom_hosts WHERE tenant_id = ?`, t.ID); err != nil {
			return err
		}
		for _, h := range rec.Hosts {
			if _, err := tx.ExecContext(ctx, `DELETE FROM custom_hosts WHERE host = ?`, h); err != nil {
				return err
			}
		}
		status, migration := t.Status, t.MigrationStatus
		if status == "" {
			status = TenantActive
		}
		if migration == "" {
			migration = MigrationOK
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, slug, name, timezone, status, schema_version,
			migration_status, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, timezone = excluded.timezone,
			status = excluded.status, schema_version = excluded.schema_version,
			migration_status = excluded.migration_status, last_error = excluded.last_error,
			created_at = excluded.created_at`,
			t.ID, t.Slug, t.Name, t.Timezone, status, t.SchemaVersion, migration, t.LastError, t.CreatedAt.UTC()); err != nil {
			return err
		}
		now := r.now().UTC()
		for _, s := range rec.OldSlugs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO slug_redirects (slug, tenant_id, created_at) VALUES (?, ?, ?)`, s, t.ID, now); err != nil {
				return err
			}
		}
		for _, h := range rec.Hosts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO custom_hosts (host, tenant_id, created_at) VALUES (?, ?, ?)`, h, t.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply the record of tenant %s: %w", t.Slug, err)
	}
	return nil
}

// Forget removes tenant id from this registry's copy (its row, old slugs and hosts), as the
// controller's registry deleted it; unlike Delete it leaves no tombstone (the controller's
// registry holds the slug) and nothing else. A tenant not here is no error.
func (r *SQLiteRegistry) Forget(ctx context.Context, id string) error {
	err := withTx(ctx, r.db.Write, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM slug_redirects WHERE tenant_id = ?`, `DELETE FROM custom_hosts WHERE tenant_id = ?`,
			`DELETE FROM tenants WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget tenant %s: %w", id, err)
	}
	return nil
}

// registryTables are the tables LoadFrom copies, in the order their rows are inserted (and
// removed in reverse), with their columns: everything but the spares, which are this node's
// own files, and the bookkeeping tables (migrations, lookup_revision).
var registryTables = []struct{ name, columns string }{
	{"tenants", "id, slug, name, timezone, status, schema_version, migration_status, last_error, created_at, last_seen_at"},
	{"slug_redirects", "slug, tenant_id, created_at"},
	{"custom_hosts", "host, tenant_id, created_at"},
	{"tombstones", "slug, tenant_id, deleted_at"},
	{"backups", "id, tenant_id, blob_key, schema_version, size_bytes, sha256, created_at, verified_at"},
	{"tenant_stats", "tenant_id, day, bookings_created, bookings_cancelled, customers"},
}

// LoadFrom replaces this registry's contents with those of the registry file at path (a copy
// restored from the replica by a new cluster controller), in one transaction: tenants, old
// slugs, hosts, tombstones, backup records and stats. The spares stay: they are files of this
// node. The file at path is migrated first (it may come from an older binary).
func (r *SQLiteRegistry) LoadFrom(ctx context.Context, path string) error {
	src, err := OpenRegistry(ctx, path, r.grace)
	if err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	if err := src.Close(); err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	conn, err := r.db.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	defer func() { _ = conn.Close() }() // back to the pool; nothing to report
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS src`, FileURL(path)+"?mode=ro"); err != nil {
		return fmt.Errorf("load registry: attach %s: %w", path, err)
	}
	loadErr := func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }() // after Commit: nothing to undo
		for _, tb := range slices.Backward(registryTables) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM main.`+tb.name); err != nil {
				return fmt.Errorf("empty %s: %w", tb.name, err)
			}
		}
		for _, tb := range registryTables {
			if _, err := tx.ExecContext(ctx, `INSERT INTO main.`+tb.name+` (`+tb.columns+`) SELECT `+tb.columns+` FROM src.`+tb.name); err != nil {
				return fmt.Errorf("copy %s: %w", tb.name, err)
			}
		}
		return tx.Commit()
	}()
	_, detachErr := conn.ExecContext(ctx, `DETACH DATABASE src`)
	if err := errors.Join(loadErr, detachErr); err != nil {
		return fmt.Errorf("load registry from %s: %w", path, err)
	}
	return nil
}

// StopReplicating detaches the registry from the replica after a last sync (bounded by ctx):
// in cluster mode, a node that is no longer the controller stops shipping its copy.
func (r *SQLiteRegistry) StopReplicating(ctx context.Context) error {
	if err := r.db.detach(ctx); err != nil {
		return fmt.Errorf("stop replicating the registry: %w", err)
	}
	return nil
}

// Replicated reports whether the registry is attached to a replica.
func (r *SQLiteRegistry) Replicated() bool { return r.db.Replicated() }

// sqliteRegistry lets a Registry that wraps a SQLiteRegistry (by embedding it: cluster mode's
// registry forwards its writes to the controller) be synced with the replica like the
// SQLiteRegistry itself.
func (r *SQLiteRegistry) sqliteRegistry() *SQLiteRegistry { return r }

// Sync waits until the replica holds everything committed to the registry (nothing to wait
// for when it is not replicated).
func (r *SQLiteRegistry) Sync(ctx context.Context) error { return r.db.Sync(ctx) }
