package tenancy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
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
// after. A step that fails gives a *MigrationError; a database newer than ms a *SchemaTooNewError.
// The version is read again inside each transaction, so two processes migrating the same
// database (the server and `reserva migrate`) never apply a step twice. On error the failing step
// is rolled back and the database stays at the last version that committed.
//
// Steps run with foreign key enforcement off and must leave PRAGMA foreign_key_check empty when
// they commit: that is SQLite's procedure for changing a table's definition (create the new
// table, copy the rows, drop the old one, rename; https://sqlite.org/lang_altertable.html#otheralter).
// With enforcement on, dropping a table that other rows refer to fails (or cascades), and a step
// cannot turn it off itself: PRAGMA foreign_keys is ignored inside a transaction. So a step may
// not count on ON DELETE actions either.
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
	if from == len(ms) {
		return from, to, nil
	}
	// The pragma belongs to a connection: every step runs on this one, which gets its
	// enforcement back before it returns to the pool.
	conn, err := w.Conn(ctx)
	if err != nil {
		return from, to, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var fk bool
	if err := conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return from, to, fmt.Errorf("migrate: read foreign_keys: %w", err)
	}
	if fk {
		if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return from, to, fmt.Errorf("migrate: turn foreign keys off: %w", err)
		}
		defer func() {
			// Even for a cancelled request: the writer must never serve without enforcement.
			if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); ferr != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // always "fails": the pool drops it
				err = errors.Join(err, fmt.Errorf("migrate: turn foreign keys back on: %w", ferr))
			}
		}()
	}
	for _, m := range ms[from:] {
		err := withConnTx(ctx, conn, func(tx *sql.Tx) error {
			cur, err := schemaVersion(ctx, tx)
			if err != nil || cur >= m.Version {
				return err // someone else applied it meanwhile
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if err := foreignKeyCheck(ctx, tx); err != nil {
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

// foreignKeyCheck fails when a row of tx refers to a row that does not exist, naming the first.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	var table, parent string
	var rowid sql.NullInt64
	var fkid int
	err := tx.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(&table, &rowid, &parent, &fkid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check foreign keys: %w", err)
	}
	return fmt.Errorf("foreign key check: row %d of %s refers to a row of %s that does not exist", rowid.Int64, table, parent)
}

// withConnTx is withTx on one connection.
func withConnTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
