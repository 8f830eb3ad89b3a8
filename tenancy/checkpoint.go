package tenancy

import (
	"context"
	"sync"
	"time"
)

// Checkpoints in the background. SQLite folds the write-ahead log back into the database file
// once it holds autoCheckpoint pages, in the commit that grew it: that commit's request (a
// booking, every few dozen) waited for the copy of up to a thousand pages and the database
// file's fsync, the bookings' slowest percent. Instead the commit queues its database here, and
// one goroutine for the process checkpoints it with a reader connection, PASSIVE as SQLite's
// own: it waits for no reader or writer, and writers go on meanwhile.
var checkpointer struct {
	once  sync.Once
	queue chan *DB
}

// checkpointQueue bounds the databases waiting for a checkpoint; one that finds it full is
// queued again by its next commit.
const checkpointQueue = 256

// checkpointWait bounds one background checkpoint (a reader connection to free up, the copy).
const checkpointWait = 30 * time.Second

// checkpointSoon queues db for a background checkpoint, once until it is done.
func (db *DB) checkpointSoon() {
	if !db.checkpointQueued.CompareAndSwap(false, true) {
		return
	}
	checkpointer.once.Do(func() {
		checkpointer.queue = make(chan *DB, checkpointQueue)
		go checkpoints(checkpointer.queue)
	})
	select {
	case checkpointer.queue <- db:
	default:
		db.checkpointQueued.Store(false)
	}
}

// checkpoints runs the queued checkpoints for the life of the process. A database closed
// meanwhile answers at once with an error; the checkpoint is best effort, as SQLite's own.
func checkpoints(queue <-chan *DB) {
	for db := range queue {
		db.checkpointQueued.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), checkpointWait)
		_, _ = db.Read.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		cancel()
	}
}
