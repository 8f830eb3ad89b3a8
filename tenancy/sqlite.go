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
	version atomic.Uint64              // commits through Write since the database was opened
	commits commitSignal               // wakes NextCommit's waiters
	values  sync.Map                   // what Value keeps
	replica atomic.Pointer[replicaRef] // set while the database is replicated (replication.go)
	// checkpointQueued: the database waits for the background checkpointer (checkpoint.go).
	checkpointQueued atomic.Bool
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

// Close closes both pools, after a final sync to the replica and its detach when db is
// replicated (while the WAL it ships is still there).
func (db *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), replicaCloseWait)
	defer cancel()
	return db.CloseContext(ctx)
}

// CloseContext is Close with ctx bounding the final sync to the replica (a shutdown's
// deadline, shared by every database it closes).
func (db *DB) CloseContext(ctx context.Context) error {
	return errors.Join(db.detach(ctx), db.Write.Close(), db.Read.Close())
}

// Pragmas of every connection. busy_timeout comes first (the driver only sets its own default
// when no pragma is given). synchronous=FULL makes every commit durable on power loss, not just on
// a process crash: a booking acknowledged to a customer must exist after any failure, for a
// small cost per commit (docs/perf.md).
const (
	basePragmas   = "_pragma=busy_timeout(10000)&_pragma=cache_size(-1024)"
	writerPragmas = "_pragma=foreign_keys(1)&_pragma=synchronous(full)&_pragma=journal_mode(wal)"
	readerPragmas = "_pragma=query_only(1)"
)

type openOptions struct {
	create    bool // create the file if it does not exist
	readConns int
	// secureDelete zeroes deleted content (the registry: a deleted business's name and id must
	// not linger in free pages).
	secureDelete bool
}

// FileURL is the SQLite URI of the database file at path, for the driver's query parameters
// (mode, pragmas) to follow.
func FileURL(path string) string {
	return (&url.URL{Scheme: "file", OmitHost: true, Path: path}).String()
}

func readerURL(path string) string {
	return FileURL(path) + "?mode=rw&" + basePragmas + "&" + readerPragmas
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
	pragmas := writerPragmas
	if opt.secureDelete {
		pragmas += "&_pragma=secure_delete(1)"
	}
	w, err := openPool(FileURL(path)+"?mode="+mode+"&"+basePragmas+"&"+pragmas+"&_txlock=immediate", func() { db.version.Add(1); db.commits.broadcast() }, db.checkpointSoon)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)

	// Readers need neither foreign_keys nor synchronous: fewer pragmas, a faster first read.
	r, err := openPool(readerURL(path)+"&_txlock=deferred", nil, nil)
	if err != nil {
		_ = w.Close() // the readers' failure is the one to report
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

// ErrCorrupt means a tenant's database file is damaged or is not the file the registry expects
// (missing, empty, or at an older schema version than the registry recorded). The tenant is
// marked failed and answers 503 until an operator restores it; it is never migrated from zero,
// served half-read or backed up over a good backup.
var ErrCorrupt = errors.New("database file is damaged or not the one the registry expects")

// IsCorrupt reports whether err says a database file is damaged: SQLITE_CORRUPT or SQLITE_NOTADB
// (with any extended code), SQLITE_IOERR_CORRUPTFS, or ErrCorrupt.
func IsCorrupt(err error) bool {
	if errors.Is(err, ErrCorrupt) {
		return true
	}
	code, ext := sqliteCode(err)
	return code == sqlite3.CORRUPT || code == sqlite3.NOTADB || ext == sqlite3.IOERR_CORRUPTFS
}

// sqliteCode returns the SQLite result code of err and its extended code (zero when err is not
// SQLite's). The driver returns *sqlite3.Error or the bare code types, which convert into each
// other through errors.As.
func sqliteCode(err error) (sqlite3.ErrorCode, sqlite3.ExtendedErrorCode) {
	var code sqlite3.ErrorCode
	var ext sqlite3.ExtendedErrorCode
	if err == nil || !errors.As(err, &code) {
		return 0, 0
	}
	errors.As(err, &ext)
	return code, ext
}

// IsFault reports whether err is the platform's fault rather than the request's: a tenant that
// cannot be served now, a shutdown, or storage that failed (damaged, full, busy, I/O). Such
// errors answer 503 with Retry-After, not 500.
func IsFault(err error) bool {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) || IsCorrupt(err) {
		return true
	}
	switch code, _ := sqliteCode(err); code {
	case sqlite3.IOERR, sqlite3.FULL, sqlite3.BUSY, sqlite3.LOCKED, sqlite3.CANTOPEN, sqlite3.NOMEM:
		return true
	}
	return false
}
