package tenancy

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

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
	return readAll(ctx, r.db.Read, "list backups", func(row interface{ Scan(...any) error }) (Backup, error) {
		var b Backup
		var verified sql.NullTime
		err := row.Scan(&b.ID, &b.TenantID, &b.Key, &b.SchemaVersion, &b.SizeBytes, &b.SHA256, &b.CreatedAt, &verified)
		b.VerifiedAt = verified.Time
		return b, err
	}, `SELECT id, tenant_id, blob_key, schema_version, size_bytes, sha256, created_at,
		verified_at FROM backups WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`, tenantID)
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
	return readAll(ctx, r.db.Read, "read stats", func(row interface{ Scan(...any) error }) (DailyStats, error) {
		var s DailyStats
		err := row.Scan(&s.TenantID, &s.Slug, &s.Day, &s.BookingsCreated, &s.BookingsCancelled, &s.Customers)
		return s, err
	}, `SELECT s.tenant_id, t.slug, s.day, s.bookings_created, s.bookings_cancelled, s.customers
		FROM tenant_stats s JOIN tenants t ON t.id = s.tenant_id WHERE s.day = ? ORDER BY s.bookings_created DESC, t.slug`, day)
}

// sortableTime writes t with a fixed number of fractional digits, so that the registry's text
// order of times is their time order.
func sortableTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
