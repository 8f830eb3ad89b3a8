package tenancy

import (
	"context"
	"fmt"
	"time"
)

// flushSeen writes the batched last-seen times to the registry.
func (m *Manager) flushSeen(ctx context.Context) {
	m.mu.Lock()
	seen := m.seen
	m.seen = map[string]time.Time{}
	m.mu.Unlock()
	if err := m.reg.Touch(ctx, seen); err != nil {
		m.cfg.Logger.ErrorContext(ctx, "flush last-seen times", "err", err)
	}
}

// janitor closes idle handles and flushes last-seen times until Close.
func (m *Manager) janitor() {
	every := max(min(m.cfg.IdleTimeout/2, 30*time.Second), 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.CloseIdle(m.cfg.IdleTimeout)
			m.flushSeen(context.Background())
			m.checkOpenFiles(context.Background())
		}
	}
}

// checkOpenFiles marks damaged every open tenant whose file has gone missing or empty since it
// was opened (see FileProblem). SQLite goes on answering from the pages it holds in memory, and
// public pages come from the catalog in memory, until a request reads further: the business
// looked fine (200, tenants list "ok") while its data was gone. One stat per open tenant.
func (m *Manager) checkOpenFiles(ctx context.Context) {
	m.mu.Lock()
	var ids []string
	for id, e := range m.entries {
		if _, faulted := m.faulted[id]; e.db != nil && e.exclusive == nil && !faulted {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		problem, err := m.FileProblem(Tenant{ID: id})
		if err != nil || problem == "" {
			continue
		}
		// Still open, and no delete or restore began (they close the handle before they touch
		// the file): the file was lost, not erased or replaced on purpose.
		m.mu.Lock()
		e, ok := m.entries[id]
		open := ok && e.db != nil && e.exclusive == nil
		m.mu.Unlock()
		if !open {
			continue
		}
		t, err := m.reg.Get(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		m.fault(ctx, t, fmt.Errorf("%w: %s", ErrCorrupt, problem))
	}
}
