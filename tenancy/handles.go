package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// openEntry opens and migrates e's database under the tenant's lock.
func (m *Manager) openEntry(ctx context.Context, e *entry, t Tenant) (*DB, error) {
	start := m.cfg.Now()
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for tenant %s: %w", t.Slug, ctx.Err())
	}
	defer func() { <-e.lock }()

	m.mu.Lock()
	db, failed := e.db, e.failed
	if failed != nil && e.failedAt.Before(start) {
		failed = nil // an older failure: this is the next attempt, so retry
	}
	m.mu.Unlock()
	if db != nil || failed != nil {
		return db, failed
	}

	if err := m.reserveSlot(ctx); err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
	}
	// The open and migration are shared by everyone waiting for this tenant: a caller that goes
	// away must not interrupt them (and get the tenant marked failed).
	db, err := m.openAndMigrate(context.WithoutCancel(ctx), t)
	if err == nil {
		err = m.replicate(context.WithoutCancel(ctx), t, db)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.open--
		if errors.Is(err, ErrUnavailable) {
			// Waiters get this result instead of each retrying a broken migration.
			e.failed, e.failedAt = err, m.cfg.Now()
		}
		m.broadcastLocked()
		return nil, err
	}
	e.db, e.failed = db, nil
	return db, nil
}

// reserveSlot counts one more open handle, closing the least recently used idle handle when the
// cap is reached, or waiting for a lease to end when every open handle is in use.
func (m *Manager) reserveSlot(ctx context.Context) error {
	for {
		m.mu.Lock()
		if m.open < m.cfg.MaxOpen {
			m.open++
			m.mu.Unlock()
			return nil
		}
		if back := m.idle.Back(); back != nil {
			victim := back.Value.(*entry)
			db := m.detachLocked(victim)
			m.mu.Unlock()
			m.closeDB(victim.id, db) // its slot becomes ours once it is closed
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("all %d open tenant handles are in use: %w", m.cfg.MaxOpen, ctx.Err())
		}
	}
}

func (m *Manager) entryLocked(id string) *entry {
	e := m.entries[id]
	if e == nil {
		e = &entry{id: id, lock: make(chan struct{}, 1)}
		m.entries[id] = e
	}
	return e
}

// dropLocked forgets e when nothing refers to it any more.
func (m *Manager) dropLocked(e *entry) {
	if e.refs == 0 && e.db == nil && e.exclusive == nil && m.entries[e.id] == e {
		delete(m.entries, e.id)
	}
}

// detachLocked takes e's handle away from it. The handle's slot stays counted until the caller
// closes it outside the mutex with closeAndFree (or reuses the slot), so the number of open
// databases never exceeds the cap, not even for a moment.
func (m *Manager) detachLocked(e *entry) *DB {
	db := e.db
	if e.idleElem != nil {
		m.idle.Remove(e.idleElem)
		e.idleElem = nil
	}
	e.db = nil
	m.dropLocked(e)
	return db
}

// closeAndFree closes a detached handle, then frees its slot.
func (m *Manager) closeAndFree(id string, db *DB) {
	if db == nil {
		return
	}
	m.closeDB(id, db)
	m.mu.Lock()
	m.open--
	m.broadcastLocked()
	m.mu.Unlock()
}

func (m *Manager) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Manager) release(e *entry) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e.refs--
	e.lastUsed = now
	m.seen[e.id] = now
	if e.refs > 0 {
		return
	}
	_, faulted := m.faulted[e.id]
	switch {
	case e.db != nil && (m.closed || faulted):
		// Close gave up waiting for this lease, or the file was found damaged: close the
		// handle now rather than leak it or serve from it again.
		db := m.detachLocked(e)
		go m.closeAndFree(e.id, db)
	case e.db != nil:
		e.idleElem = m.idle.PushFront(e)
	default:
		m.dropLocked(e)
	}
	m.broadcastLocked()
}

func (m *Manager) closeDB(id string, db *DB) {
	if db == nil {
		return
	}
	if err := db.Close(); err != nil {
		m.cfg.Logger.Error("close tenant database", "tenant_id", id, "err", err)
	}
}

// Exclusive runs fn on tenant id with no handle open and no lease out: it stops new leases,
// waits for the in-flight ones to end, closes the handle, then runs fn (which may remove or
// replace the database file). Acquire calls made meanwhile wait and then see fn's result.
// The wait ends with ctx, and at the latest after Config.ExclusiveWait: a lease that is never
// given back (a caller that holds one while it deletes) makes Exclusive fail, not hang with
// every other caller of the tenant waiting behind it.
func (m *Manager) Exclusive(ctx context.Context, id string, fn func() error) error {
	wctx, cancel := context.WithTimeout(ctx, m.cfg.ExclusiveWait)
	defer cancel()
	m.mu.Lock()
	e := m.entryLocked(id)
	for e.exclusive != nil {
		gate := e.exclusive
		m.mu.Unlock()
		select {
		case <-gate:
		case <-wctx.Done():
			return fmt.Errorf("wait for another operation on tenant %s: %w", id, wctx.Err())
		}
		m.mu.Lock()
		e = m.entryLocked(id)
	}
	gate := make(chan struct{})
	e.exclusive = gate
	m.evictLocked(e)
	m.mu.Unlock()

	defer func() {
		m.mu.Lock()
		e.exclusive = nil
		close(gate)
		m.dropLocked(e)
		m.mu.Unlock()
	}()

	for {
		m.mu.Lock()
		if e.refs == 0 {
			db := m.detachLocked(e)
			m.mu.Unlock()
			m.closeAndFree(id, db)
			break
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-wctx.Done():
			return fmt.Errorf("tenant %s is still in use (%d leases) after waiting: try again later: %w",
				id, m.Leases(id), wctx.Err())
		}
	}
	return fn()
}

// isOpen reports whether tenant id's database is open now.
func (m *Manager) isOpen(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	return e != nil && e.db != nil
}

// closeIfIdle closes tenant id's database if nobody uses it. Jobs that visit idle tenants
// (sweep, backups) call it after their visit, so they do not push the tenants that requests are
// using out of the handle cache.
func (m *Manager) closeIfIdle(id string) {
	m.mu.Lock()
	e := m.entries[id]
	if e == nil || e.refs > 0 || e.db == nil || e.exclusive != nil {
		m.mu.Unlock()
		return
	}
	db := m.detachLocked(e)
	m.mu.Unlock()
	m.closeAndFree(id, db)
}

// CloseIdle closes handles that have had no lease for at least d and returns how many it closed.
func (m *Manager) CloseIdle(d time.Duration) int {
	cutoff := m.cfg.Now().Add(-d)
	type victim struct {
		id string
		db *DB
	}
	var victims []victim
	m.mu.Lock()
	for el := m.idle.Back(); el != nil; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.lastUsed.After(cutoff) {
			break // the list is ordered by last use
		}
		victims = append(victims, victim{e.id, m.detachLocked(e)})
		el = prev
	}
	m.mu.Unlock()
	for _, v := range victims {
		m.closeAndFree(v.id, v.db)
	}
	return len(victims)
}
