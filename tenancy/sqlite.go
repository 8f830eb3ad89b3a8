package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" database/sql driver
)

// DB is an open SQLite database: one writer connection and a small pool of readers.
//
// SQLite allows one writer at a time. Funnelling every write through a single connection whose
// transactions start with BEGIN IMMEDIATE means a read-then-write transaction can never fail with
// SQLITE_BUSY half way; readers run beside it thanks to WAL.
type DB struct {
	Write *sql.DB // exactly one connection; BeginTx takes the write lock at once (BEGIN IMMEDIATE)
	Read  *sql.DB // query-only connections for reads that need no transaction with a write

	path    string
	version atomic.Uint64 // commits through Write since the database was opened
	commits commitSignal  // wakes NextCommit's waiters
	values  sync.Map      // what Value keeps
}

// Untouched reports whether nothing has been written since the database was opened (its writer
// connection, which never idles out, is still closed) and its WAL is empty: there is nothing to
// tidy, and tidying would open the writer, milliseconds of CPU and memory for nothing.
func (db *DB) Untouched() bool {
	if db.Write.Stats().OpenConnections > 0 {
		return false
	}
	fi, err := os.Stat(db.path + "-wal")
	return errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0)
}

// Pools returns the writer and reader pools.
func (db *DB) Pools() (write, read *sql.DB) { return db.Write, db.Read }

// Version moves on after every commit through Write (all writes go through it), once the
// commit is visible to readers. Something read at version v is still current while Version
// returns v.
func (db *DB) Version() uint64 { return db.version.Load() }

// Value returns what is kept under key for as long as the database stays open, made by build
// the first time. Caches of the database's contents live here (checked against Version), so
// closing the handle drops them.
func (db *DB) Value(key any, build func() any) any {
	if v, ok := db.values.Load(key); ok {
		return v
	}
	v, _ := db.values.LoadOrStore(key, build())
	return v
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.Write.Close(), db.Read.Close())
}

// Pragmas of every connection. busy_timeout comes first (the driver only sets its own default
// when no pragma is given). synchronous=FULL makes every commit durable on power loss, not just on
// a process crash: a booking acknowledged to a customer must exist after any failure, and a
// commit costs about 0.3 ms more than with NORMAL.
const (
	basePragmas   = "_pragma=busy_timeout(10000)&_pragma=cache_size(-1024)"
	writerPragmas = "_pragma=foreign_keys(1)&_pragma=synchronous(full)&_pragma=journal_mode(wal)"
	readerPragmas = "_pragma=query_only(1)"
)

type openOptions struct {
	create    bool // create the file if it does not exist
	readConns int
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", OmitHost: true, Path: path}).String()
}

func readerURL(path string) string {
	return fileURL(path) + "?mode=rw&" + basePragmas + "&" + readerPragmas
}

// openDB opens the database at path. Connections open lazily: a tenant that is only read from
// (most public page views) never opens its writer. Without create, a missing file is an error rather than a new
// empty database, so a tenant whose file is gone is never silently served as a blank business.
func openDB(path string, opt openOptions) (*DB, error) {
	mode := "rw"
	if opt.create {
		mode = "rwc"
	}
	db := &DB{path: path}
	w, err := openPool(fileURL(path)+"?mode="+mode+"&"+basePragmas+"&"+writerPragmas+"&_txlock=immediate", func() { db.version.Add(1); db.commits.broadcast() })
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)

	// Readers need neither foreign_keys nor synchronous: fewer pragmas, a faster first read.
	r, err := openPool(readerURL(path)+"&_txlock=deferred", nil)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(opt.readConns, 1)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(time.Minute) // a tenant that goes quiet gives its readers back
	db.Write, db.Read = w, r
	return db, nil
}

// requireWAL checks, through pool, that the database really is in WAL mode: journal_mode
// silently stays "delete" on a file system that cannot do WAL, and readers would then block the
// writer.
func requireWAL(ctx context.Context, pool *sql.DB) error {
	var jm string
	if err := pool.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&jm); err != nil {
		return err
	}
	if !strings.EqualFold(jm, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", jm)
	}
	return nil
}

// isConstraint reports whether err is an SQLite constraint violation (unique, foreign key, check).
func isConstraint(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && se.Code() == sqlite3.CONSTRAINT
}

// withTx runs fn in a write transaction of db and commits it, or rolls back if fn fails.
func withTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
