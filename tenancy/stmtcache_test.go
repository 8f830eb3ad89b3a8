package tenancy

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// cached returns how many statements the pool's (only) connection keeps.
func cached(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	if err := conn.Raw(func(dc any) error { n = dc.(*cachingConn).lru.Len(); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Kept statements give the same answers as fresh ones: reused with new arguments, shared by
// nothing while their rows are open, dropped least recently used first, finalized on close.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "t.db"), openOptions{create: true, readConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The INSERT was prepared once and reused nine times.
	if n := cached(t, db.Write); n != 1 {
		t.Fatalf("writer keeps %d statements, want 1 (the INSERT)", n)
	}

	const q = `SELECT v FROM t WHERE id = ?`
	for i := range 10 {
		var v string
		if err := db.Read.QueryRowContext(ctx, q, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("id %d: %q, %v", i, v, err)
		}
	}

	// The same SQL again while its rows are still open, on the one writer connection: the inner
	// query gets a statement of its own, not the busy one.
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM t WHERE id >= ? ORDER BY id`, 8)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, `SELECT id FROM t WHERE id >= ? ORDER BY id`, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var j int
			if err := inner.Scan(&j); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(id, "-", j))
		}
		inner.Close()
	}
	rows.Close()
	_ = tx.Rollback()
	if fmt.Sprint(got) != "[8-8 8-9 9-9]" {
		t.Fatalf("nested queries of the same SQL: %v", got)
	}

	// More distinct queries than the cache holds: it stays bounded and answers stay right.
	for i := range stmtCacheSize + 20 {
		var n int
		if err := db.Read.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) + %d FROM t`, i)).Scan(&n); err != nil || n != 10+i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n := cached(t, db.Read); n != stmtCacheSize {
		t.Fatalf("reader keeps %d statements, want the cap %d", n, stmtCacheSize)
	}
	// SQLite refuses to close a connection with statements left: Close finalizes them all.
	if err := db.Close(); err != nil {
		t.Fatalf("close with kept statements: %v", err)
	}
}

// The writer's commit hook replaces SQLite's automatic checkpoint, so it has the log folded back
// into the database: in the background past 1000 pages, and by the commit itself past
// maxLogPages when the writer never pauses (as here), so the log does not grow without bound.
func TestCommitHookKeepsCheckpointing(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "t.db"), openOptions{create: true, readConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	before := db.Version()
	const commits = 2500 // a page or more each
	for range commits {
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO t VALUES (randomblob(3000))`); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.Version() - before; got != commits {
		t.Fatalf("version moved %d times over %d commits", got, commits)
	}
	var busy, logFrames, done int
	if err := db.Write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if logFrames > maxLogPages+50 {
		t.Fatalf("the log holds %d frames after %d commits: nothing checkpointed it", logFrames, commits)
	}
}

// Version moves on after every commit through the writer, also one the WAL hook never sees: an
// autocommit INSERT … RETURNING read with QueryRow stops at its first row and commits when its
// statement is reset. Reads, rollbacks and failed statements move nothing.
func TestVersionMovesOnCommitAtReset(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "t.db"), openOptions{create: true, readConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		name  string
		do    func() error
		moves bool
		rows  int // in t afterwards, as readers see it
	}{
		{"InsertReturningAutocommit", func() error {
			var id int64
			return db.Write.QueryRowContext(ctx, `INSERT INTO t (v) VALUES ('a') RETURNING id`).Scan(&id)
		}, true, 1},
		{"ReadOnTheWriter", func() error {
			var n int
			return db.Write.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n)
		}, false, 1},
		{"FailedInsertReturning", func() error {
			var id int64
			if err := db.Write.QueryRowContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'dup') RETURNING id`).Scan(&id); err == nil {
				return fmt.Errorf("a duplicate id was inserted")
			}
			return nil
		}, false, 1},
		{"InsertReturningInTransaction", func() error {
			tx, err := db.Write.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO t (v) VALUES ('b') RETURNING id`).Scan(&id); err != nil {
				return err
			}
			return tx.Commit()
		}, true, 2},
		{"RolledBack", func() error {
			tx, err := db.Write.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO t (v) VALUES ('c') RETURNING id`).Scan(&id); err != nil {
				return err
			}
			return tx.Rollback()
		}, false, 2},
		{"Exec", func() error {
			_, err := db.Write.ExecContext(ctx, `UPDATE t SET v = 'z'`)
			return err
		}, true, 2},
	}
	for _, st := range steps {
		before := db.Version()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if moved := db.Version() != before; moved != st.moves {
			t.Errorf("%s: version moved %v, want %v", st.name, moved, st.moves)
		}
		if n := count(); n != st.rows {
			t.Errorf("%s: readers see %d rows, want %d", st.name, n, st.rows)
		}
	}
}
