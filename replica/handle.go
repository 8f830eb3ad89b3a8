package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
)

// Handle is one attached database. Its methods are safe for concurrent use.
type Handle struct {
	r      *Replicator
	name   string
	path   string
	db     *litestream.DB
	client *countingClient

	ctx    context.Context // ends when the handle is closed: bounds the shared syncs
	cancel context.CancelFunc

	mu         sync.Mutex
	shipping   *syncCall   // the WAL-to-LTX stage under way, if any
	next       *syncCall   // the one that starts when shipping ends: everyone who came meanwhile
	toUpload   []*syncCall // shipped, waiting for the next upload
	uploading  bool        // the upload loop is running
	shipWanted bool        // Ship was called since the ship loop last started a sync
	shipLoop   bool        // the ship loop (runShipLoop) is running
	loops      sync.WaitGroup
	closed     bool
	syncs      uint64    // shared syncs run (each one LTX file, shared by all its callers)
	caughtUp   time.Time // start of the last sync that reached the replica, or the attach

	// Test hooks: beforeSync runs before each shared sync, queued when a caller joins next,
	// shipped after a sync's LTX file is written (before its upload).
	beforeSync func()
	queued     func()
	shipped    func()
}

// syncCall is one shared sync: done is closed when it ends, err is then its result.
type syncCall struct {
	done  chan struct{}
	err   error
	start time.Time // when its WAL-to-LTX stage started
}

func newHandle(r *Replicator, name, path string) *Handle {
	h := &Handle{r: r, name: name, path: path, client: r.client(name), caughtUp: time.Now()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// Name is the name the database is replicated under.
func (h *Handle) Name() string { return h.name }

// Path is the attached database file.
func (h *Handle) Path() string { return h.path }

// Sync waits until the replica holds every transaction committed to the database before Sync
// was called (its WAL shipped as LTX files and uploaded). Concurrent callers share the work:
// a caller that arrives while a sync runs joins the next one, which starts as soon as the
// running one ends and serves everyone who came meanwhile (group commit). A sync has two
// stages, each run by one goroutine at a time: WAL to a local LTX file, then upload. They
// overlap: while one sync uploads, the next writes its LTX file, and an upload carries every
// LTX file written before it starts. ctx bounds the caller's wait only; the shared sync
// itself is bounded by Options.SyncTimeout. An error means the replica may or may not hold
// the caller's commits.
func (h *Handle) Sync(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return fmt.Errorf("sync %s: %w", h.name, ErrClosed)
	}
	c, joined := h.joinLocked()
	queued := h.queued
	h.mu.Unlock()
	if joined && queued != nil {
		queued()
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("sync %s: %w", h.name, context.Cause(ctx))
	}
}

// joinLocked starts a shared sync when none runs, or joins the one queued behind the running
// one (queuing it when there is none yet); joined reports the latter. h.mu is held.
func (h *Handle) joinLocked() (c *syncCall, joined bool) {
	if h.shipping == nil {
		c = &syncCall{done: make(chan struct{})}
		h.shipping = c
		h.loops.Add(1)
		go h.runShips(c)
		return c, false
	}
	if h.next == nil {
		h.next = &syncCall{done: make(chan struct{})}
	}
	return h.next, true
}

// Ship starts shipping what is committed to the database now, as Sync does, without waiting:
// for writes acknowledged before the replica holds them (async), which then reach it within a
// sync's round trip rather than after Litestream's next tick of its WAL monitor and of its
// upload loop (each Options.SyncInterval, so up to two of them). One shipping sync at a time
// runs for Ship: calls meanwhile are served by one more, started when it ends, so a busy
// database's commits go out in one LTX file per round trip, where starting a WAL-to-LTX stage
// per call would queue a file per commit behind the uploads. A failure is logged; Litestream's
// own loop retries within Options.SyncInterval. Ship on a closed handle does nothing.
func (h *Handle) Ship() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.shipWanted = true
	if h.shipLoop {
		return
	}
	h.shipLoop = true
	h.loops.Add(1)
	go h.runShipLoop()
}

// runShipLoop runs one shared sync after another (waiting for each to end) while Ship was
// called since the last one started.
func (h *Handle) runShipLoop() {
	defer h.loops.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.shipWanted && !h.closed {
		h.shipWanted = false
		c, _ := h.joinLocked()
		h.mu.Unlock()
		<-c.done // bounded by SyncTimeout
		if c.err != nil && h.ctx.Err() == nil {
			h.r.opt.Logger.Warn("replica: shipping commits failed; retrying within the sync interval",
				"name", h.name, "err", c.err)
		}
		h.mu.Lock()
	}
	h.shipLoop = false
}

// runShips runs the WAL-to-LTX stage of c, then of whatever sync was queued behind it, until
// none is, and hands each shipped sync to the upload loop.
func (h *Handle) runShips(c *syncCall) {
	defer h.loops.Done()
	for c != nil {
		if h.beforeSync != nil {
			h.beforeSync()
		}
		c.start = time.Now()
		ctx, cancel := context.WithDeadline(h.ctx, c.start.Add(h.r.opt.SyncTimeout))
		err := h.db.Sync(ctx)
		cancel()
		if err == nil && h.shipped != nil {
			h.shipped()
		}
		h.mu.Lock()
		h.syncs++
		if err != nil {
			c.err = fmt.Errorf("sync %s (WAL to LTX): %w", h.name, err)
			close(c.done)
		} else {
			h.toUpload = append(h.toUpload, c)
			if !h.uploading {
				h.uploading = true
				h.loops.Add(1)
				go h.runUploads()
			}
		}
		c, h.next = h.next, nil
		h.shipping = c
		h.mu.Unlock()
	}
}

// runUploads uploads until no shipped sync waits. One upload serves every sync shipped before
// it starts (Litestream uploads up to the database's position at the start); it is bounded by
// the SyncTimeout of the oldest of them.
func (h *Handle) runUploads() {
	defer h.loops.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.toUpload) > 0 {
		batch := h.toUpload
		h.toUpload = nil
		h.mu.Unlock()
		ctx, cancel := context.WithDeadline(h.ctx, batch[0].start.Add(h.r.opt.SyncTimeout))
		err := h.db.Replica.Sync(ctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("sync %s to %s: %w", h.name, h.r.target.redact, err)
		}
		h.mu.Lock()
		if err == nil {
			h.caughtUp = batch[len(batch)-1].start
		}
		for _, c := range batch {
			c.err = err
			close(c.done)
		}
	}
	h.uploading = false
}

// Checkpoint copies the WAL into the database file and truncates it, through Litestream: it
// first ships what the WAL holds, then checkpoints with its own long read transaction out of
// the way (a checkpoint(TRUNCATE) of another connection would wait for that transaction until
// its busy timeout).
func (h *Handle) Checkpoint(ctx context.Context) error {
	if err := h.db.Sync(ctx); err != nil {
		return fmt.Errorf("checkpoint %s: %w", h.name, err)
	}
	if err := h.db.Checkpoint(ctx, litestream.CheckpointModeTruncate); err != nil {
		return fmt.Errorf("checkpoint %s: %w", h.name, err)
	}
	return nil
}

// Close ships what is left (bounded by ctx and Options.SyncTimeout) and detaches the database:
// Litestream's connection and read transaction end. Syncs waiting on the handle get the final
// result of theirs; later ones fail with ErrClosed. Closing twice is not an error.
func (h *Handle) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	// Let the syncs under way and queued finish: their callers were promised an answer.
	idle := make(chan struct{})
	go func() {
		h.loops.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-ctx.Done():
	}
	cctx, cancel := context.WithTimeout(ctx, h.r.opt.SyncTimeout)
	defer cancel()
	// Sync explicitly first: Litestream's own final sync on close skips a database it has not
	// started on yet (attached less than a sync interval ago), whose commits would stay behind.
	serr := h.db.SyncAndWait(cctx)
	uerr := h.r.store.UnregisterDB(cctx, h.db.Path())
	h.r.forget(h) // and ends h.ctx
	if err := errors.Join(serr, uerr); err != nil {
		return fmt.Errorf("detach %s (final sync to %s): %w", h.name, h.r.target.redact, err)
	}
	return nil
}

// Stats are a handle's replication figures.
type Stats struct {
	Name string
	// BytesShipped counts the LTX bytes uploaded since the attach.
	BytesShipped int64
	// LocalTXID is the last transaction Litestream has read from the WAL; ReplicaTXID the last
	// one the replica holds.
	LocalTXID, ReplicaTXID uint64
	// Lag is zero when the replica holds every transaction Litestream has read, else how long
	// ago the replica last held everything (or the attach, if it never has).
	Lag time.Duration
	// Syncs counts the shared syncs run for Sync callers.
	Syncs uint64
}

// Stats returns the handle's figures now.
func (h *Handle) Stats() Stats {
	s := Stats{Name: h.name, BytesShipped: h.client.bytes.Load()}
	if pos, err := h.db.Pos(); err == nil {
		s.LocalTXID = uint64(pos.TXID)
	}
	if h.db.Replica != nil {
		s.ReplicaTXID = uint64(h.db.Replica.Pos().TXID)
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	s.Syncs = h.syncs
	if s.LocalTXID <= s.ReplicaTXID {
		h.caughtUp = now
	}
	s.Lag = now.Sub(h.caughtUp)
	return s
}
