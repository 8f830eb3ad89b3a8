package tenancy

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// stmtCacheSize is how many prepared statements each connection keeps. A request runs the same
// few queries every time (availability: service, settings, staff, overrides, time off,
// bookings), and compiling SQL was a quarter of the server's CPU under load; a kept statement
// is only reset and bound again. Each costs a few KiB of the connection's memory.
const stmtCacheSize = 48

// openPool opens a database/sql pool whose connections keep their prepared statements. When
// committed is given, its connections call it after each commit, once the commit is visible.
func openPool(dsn string, committed, checkpointDue func()) (*sql.DB, error) {
	c, err := (&sqlite3driver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{c, committed, checkpointDue}), nil
}

type cachingConnector struct {
	driver.Connector
	committed func()
	// checkpointDue is told when the log has grown past autoCheckpoint pages (nil: the commit
	// that grew it checkpoints, as SQLite would).
	checkpointDue func()
}

// autoCheckpoint is SQLite's default: a WAL hook replaces its automatic checkpoint, so the
// hook has it done, as SQLite would, once the log holds this many pages.
const autoCheckpoint = 1000

// maxLogPages is the log's size past which the commit checkpoints itself after all: the
// background checkpoint (checkpoint.go) folds the log while commits go on, but the log starts
// over only once a checkpoint has caught up with every commit, which a writer that never
// pauses does not allow.
const maxLogPages = 4 * autoCheckpoint

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	conn, ok := dc.(sqlite3driver.Conn)
	if !ok {
		_ = dc.Close() // a connection we cannot use; the type is the error to report
		return nil, fmt.Errorf("sqlite: unexpected driver connection %T", dc)
	}
	cc := &cachingConn{Conn: conn, byQuery: map[string]*list.Element{}}
	if c.committed != nil {
		cc.committed = c.committed
		// The WAL hook runs after the commit, with the write lock released: readers see it.
		// SQLite runs it only when a statement steps to its end, though: an autocommit
		// statement stopped early (INSERT … RETURNING read with QueryRow) commits when it is
		// reset, and runs no hook. The commit hook notes every commit about to happen; one the
		// WAL hook did not see is reported when its statement is closed (see cachedStmt.Close).
		conn.Raw().CommitHook(func() bool {
			cc.unreported = true
			return true
		})
		conn.Raw().WALHook(func(db *sqlite3.Conn, schema string, pages int) error {
			cc.unreported = false
			c.committed()
			switch {
			case pages < autoCheckpoint:
			case c.checkpointDue != nil && pages < maxLogPages:
				// Not here: this commit's statement is still stepping, and the request that made
				// it (a booking) would wait for the copy and the database file's fsync.
				c.checkpointDue()
			default:
				// A writer that never pauses: a background checkpoint never catches up with it,
				// the log never starts over, and it would grow without bound.
				_, _, _ = db.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE) // best effort, as SQLite's own
			}
			return nil
		})
	}
	return cc, nil
}

// cachingConn is one SQLite connection with an LRU of its prepared statements. database/sql uses
// a connection from one goroutine at a time, so it needs no lock.
type cachingConn struct {
	sqlite3driver.Conn
	lru     list.List // of *cachedStmt, most recently used first
	byQuery map[string]*list.Element

	committed  func() // the writer's: called after each commit
	unreported bool   // a commit began that committed has not been told of
}

// reportCommit tells of a commit that ended when a statement was reset (with no WAL hook), once
// the connection is back in autocommit mode and the commit is visible to readers.
func (c *cachingConn) reportCommit() {
	if c.unreported && c.Raw().GetAutocommit() {
		c.unreported = false
		c.committed()
	}
}

// ExecContext keeps the driver's fast path for statements without arguments (BEGIN, PRAGMA,
// migration scripts of several statements); with arguments the driver answers ErrSkip and
// database/sql prepares, which goes through the cache.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *cachingConn) CheckNamedValue(arg *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(arg)
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext hands out the kept statement for query, or prepares and keeps a new one. A
// statement still in use (rows of the same query open) is not shared: the caller gets a
// statement of its own that is finalized when closed.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if e, ok := c.byQuery[query]; ok {
		s := e.Value.(*cachedStmt)
		if !s.inUse {
			s.inUse = true
			c.lru.MoveToFront(e)
			return s, nil
		}
		ds, err := c.Conn.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		return &cachedStmt{conn: c, stmt: ds.(sqliteStmt), inUse: true, owned: true}, nil
	}
	ds, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{conn: c, stmt: ds.(sqliteStmt), query: query, inUse: true}
	c.byQuery[query] = c.lru.PushFront(s)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Back()
		o := c.lru.Remove(old).(*cachedStmt)
		delete(c.byQuery, o.query)
		o.owned = true // no longer kept: finalized now, or by whoever still uses it
		if !o.inUse {
			_ = o.stmt.Close() // finalizing reports the last execution's error, reported then
		}
	}
	return s, nil
}

// Close finalizes every kept statement (SQLite will not close a connection that has any).
func (c *cachingConn) Close() error {
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		errs = append(errs, e.Value.(*cachedStmt).stmt.Close())
	}
	c.lru.Init()
	clear(c.byQuery)
	return errors.Join(append(errs, c.Conn.Close())...)
}

// sqliteStmt is what the driver's statements implement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
	Reset() error
	ClearBindings() error
}

// cachedStmt is a statement that database/sql "closes" after each use; closing a kept one only
// resets it (its rows already did: this makes sure no read transaction stays open).
type cachedStmt struct {
	conn  *cachingConn
	stmt  sqliteStmt
	query string
	inUse bool
	owned bool // not in the cache: Close finalizes it
}

func (s *cachedStmt) Close() error {
	s.inUse = false
	if s.conn.committed != nil {
		defer s.conn.reportCommit() // the reset below (or the rows' before it) may have committed
	}
	if s.owned {
		return s.stmt.Close()
	}
	_ = s.stmt.Reset() // the error, if any, was the last execution's and was reported then
	return s.stmt.ClearBindings()
}

func (s *cachedStmt) NumInput() int { return s.stmt.NumInput() }

func (s *cachedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.stmt.Exec(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *cachedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.stmt.Query(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.stmt.ExecContext(ctx, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.stmt.QueryContext(ctx, args)
}

func (s *cachedStmt) CheckNamedValue(arg *driver.NamedValue) error {
	return s.stmt.CheckNamedValue(arg)
}
