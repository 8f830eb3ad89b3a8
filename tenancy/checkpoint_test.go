package tenancy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The commit that grows the write-ahead log past autoCheckpoint pages does not fold it into the
// database file itself (a booking waited for the copy and the file's fsync); the background
// checkpointer does, with a reader connection, as soon as one is free.
func TestCheckpointInTheBackground(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "ck.db")
	db, err := openDB(path, openOptions{create: true, readConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Write.ExecContext(ctx, `CREATE TABLE blobs (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// The only reader connection is busy: the background checkpoint waits for it.
	reader, err := db.Read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// About 1,500 pages of 4 KiB in one commit.
	if _, err := db.Write.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000)
		INSERT INTO blobs SELECT randomblob(6000) FROM n`); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != before {
		t.Fatalf("the commit that grew the log checkpointed it itself: the database file went from %d to %d bytes", before, got)
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	for size() < 4<<20 {
		select {
		case <-ctx.Done():
			t.Fatalf("no background checkpoint: the database file is %d bytes", size())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
