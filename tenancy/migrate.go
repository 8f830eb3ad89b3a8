package tenancy

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/reserva/reserva/migrations"
)

// SchemaTooNewError means a database was migrated by a newer Reserva than this binary: serving it
// could corrupt data the newer schema depends on, so the tenant is unavailable until upgraded.
type SchemaTooNewError struct{ Have, Known int }

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("schema version %d is newer than this binary knows (%d)", e.Have, e.Known)
}

// MigrationError is a migration step that failed and was rolled back.
type MigrationError struct {
	Name string // the migration's file name
	Err  error
}

func (e *MigrationError) Error() string { return fmt.Sprintf("migration %s: %v", e.Name, e.Err) }
func (e *MigrationError) Unwrap() error { return e.Err }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DATETIME NOT NULL
)`

// schemaVersion returns the highest migration applied to db (0 for a new database).
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// migrate applies the migrations of ms that db has not seen yet, each in its own write
// transaction together with its row in schema_migrations, and returns the versions before and
// after. A step that fails gives a *MigrationError; a database newer than ms a *SchemaTooNewError. The version is read again inside each transaction, so two processes migrating the same
// database (the server and `reserva migrate`) never apply a step twice. On error the failing step
// is rolled back and the database stays at the last version that committed.
func migrate(ctx context.Context, w *sql.DB, ms []migrations.Migration, now func() time.Time) (from, to int, err error) {
	if _, err := w.ExecContext(ctx, createMigrationsTable); err != nil {
		return 0, 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := requireWAL(ctx, w); err != nil {
		return 0, 0, err
	}
	if from, err = schemaVersion(ctx, w); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	if from > len(ms) {
		return from, from, &SchemaTooNewError{Have: from, Known: len(ms)}
	}
	to = from
	for _, m := range ms[from:] {
		err := withTx(ctx, w, func(tx *sql.Tx) error {
			cur, err := schemaVersion(ctx, tx)
			if err != nil || cur >= m.Version {
				return err // someone else applied it meanwhile
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, now().UTC())
			return err
		})
		if err != nil {
			return from, to, &MigrationError{Name: m.Name, Err: err}
		}
		to = m.Version
	}
	return from, to, nil
}
