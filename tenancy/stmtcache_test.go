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
	conn.Raw(func(dc any) error { n = dc.(*cachingConn).lru.Len(); return nil })
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
	defer db.Close()
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
		rows.Scan(&id)
		inner, err := tx.QueryContext(ctx, `SELECT id FROM t WHERE id >= ? ORDER BY id`, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var j int
			inner.Scan(&j)
			got = append(got, fmt.Sprint(id, "-", j))
		}
		inner.Close()
	}
	rows.Close()
	tx.Rollback()
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

// The writer's commit hook replaces SQLite's automatic checkpoint, so it checkpoints itself: the
// log is folded back into the database every 1000 pages and does not grow without bound.
func TestCommitHookKeepsCheckpointing(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "t.db"), openOptions{create: true, readConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	if logFrames > autoCheckpoint+50 {
		t.Fatalf("the log holds %d frames after %d commits: nothing checkpointed it", logFrames, commits)
	}
}
