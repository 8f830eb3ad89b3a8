package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/tenancy"
)

// Adoption (issue #23): every business has an owner, even one nobody requests. A business is
// claimed by its next request; one whose owner died, or that was placed on a node before the
// whole cluster restarted, would otherwise wait for a request that may not come tonight, and its
// jobs (reminders before tomorrow's appointments, the outbox, backups, stats) with it. So each
// node looks over its copy of the registry, at start, at every change of the live set it sees
// and every adoptEvery, and claims, through the fence's own claim (single-flight, takeOver,
// route publish), the businesses that no live node holds and that are its to take:
//
//   - placed on this node in an epoch it does not hold (it restarted, or a hand-over's claim
//     did not reach it): only this node may claim them, the others see it live;
//   - placed on a node gone from the live set: the rendezvous choice among the live nodes that
//     serve HTTP and know the business's schema (nodeForSchema, as a drain picks), so that every
//     node with the same view picks the same one; two views that differ meet at placement's
//     compare-and-set, and the loser skips. Only on a settled view (Liveness.Settled): after a
//     gap in this node's own heartbeats (it was paused, or the bucket stalled while its leader
//     was elected, or it just started) the others' renewals show a moment after its own, and
//     for that moment the live set lacks them; a round then would take every business of nodes
//     that are alive;
//   - never placed: only a node that holds the business's file (made here before the cluster,
//     or signed up here while placement could not be written): its copy may be the only one,
//     and a node without it would claim a business it cannot restore.
//
// It acts only on a current view, by the fence's rule: this node's own heartbeat visible in the
// live set and the route map current; any doubt (a KV error, a view not caught up) is
// "unknown", never "dead", and the round does nothing. A business the route map no longer
// records (deleted at the controller) is skipped, as is one whose schema is newer than this
// binary knows. Claims run a few at a time; a failed one is logged and tried again at a later
// round (with a growing pause when it keeps failing); a draining node adopts nothing.
const (
	// adoptEvery is the backstop between rounds when nothing changes.
	adoptEvery = 30 * time.Second
	// adoptRetry is the pause before the round after one that left something to do (a claim
	// failed, or the view had not settled).
	adoptRetry = 5 * time.Second
	// adoptGap is the least pause between two rounds (a live set that flaps must not spin).
	adoptGap = 250 * time.Millisecond
	// adoptClaims bounds the claims made at once (each restores from the replica).
	adoptClaims = 2
	// adoptBackoffMax bounds the pause of a business whose claim keeps failing.
	adoptBackoffMax = 10 * time.Minute
)

// adoption is a node's adoption state (under clusterMember.mu).
type adoption struct {
	// parent is the context adoption was first started under (resumeAdopting starts it again
	// under it).
	parent   context.Context
	stop     context.CancelFunc
	done     sync.WaitGroup
	draining bool
	// failed counts each business's claims that failed in a row, and when it may be tried again.
	failed map[string]adoptFailure
}

type adoptFailure struct {
	n     int
	after time.Time
}

// backoff is the pause after n claims of one business failed in a row: none after the first
// (the next round tries again), then adoptEvery, doubling up to adoptBackoffMax.
func (f adoptFailure) backoff() time.Duration {
	if f.n <= 1 {
		return 0
	}
	d := adoptEvery
	for i := 2; i < f.n && d < adoptBackoffMax; i++ {
		d *= 2
	}
	return min(d, adoptBackoffMax)
}

// startAdopting runs the adoption loop until ctx ends or stopAdopting (a drain) stops it.
func (m *clusterMember) startAdopting(ctx context.Context, co cluster.Coordinator) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adoption.parent == nil {
		m.adoption.parent = parent
	}
	if m.adoption.draining {
		cancel()
		return
	}
	m.adoption.stop = cancel
	m.adoption.done.Go(func() {
		defer cancel()
		m.adoptIdle(ctx, co)
	})
}

// stopAdopting ends adoption for good (a drain: what this node claimed now it would have to
// hand over again) and waits for the claims under way.
func (m *clusterMember) stopAdopting() {
	m.mu.Lock()
	m.adoption.draining = true
	stop := m.adoption.stop
	m.mu.Unlock()
	if stop != nil {
		stop()
	}
	m.adoption.done.Wait()
}

// resumeAdopting ends a drain (reserva cluster drain --resume): adoption starts again, under
// the context it first ran under, unless that has ended (the node is stopping).
func (m *clusterMember) resumeAdopting(co cluster.Coordinator) {
	m.mu.Lock()
	m.adoption.draining = false
	parent := m.adoption.parent
	m.mu.Unlock()
	if parent != nil && parent.Err() == nil {
		m.startAdopting(parent, co)
	}
}

// draining says whether this node is draining: it adopts nothing, and no node picks it for a
// business (it advertises it, NodeInfo.Draining).
func (m *clusterMember) draining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.adoption.draining
}

// adoptIdle runs adoption rounds: one at once, then at every change of the live set, every
// adoptEvery (adoptRetry after a round that left something to do), until ctx ends.
func (m *clusterMember) adoptIdle(ctx context.Context, co cluster.Coordinator) {
	for {
		changed := co.Liveness().Changed()
		wait := adoptEvery
		if m.adoptRound(ctx, co) {
			wait = adoptRetry
		}
		gap := time.NewTimer(adoptGap)
		select {
		case <-ctx.Done():
			gap.Stop()
			return
		case <-gap.C:
		}
		t := time.NewTimer(wait - adoptGap)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// adoptRound claims the businesses of this node's registry that no live node holds and that
// are this node's to take (see the top of this file). It returns whether it left one to try
// again soon: a claim failed, or the view was not settled enough to take a gone node's.
func (m *clusterMember) adoptRound(ctx context.Context, co cluster.Coordinator) (again bool) {
	if m.tenants == nil || m.reg == nil || m.draining() || ctx.Err() != nil {
		return false
	}
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		m.log.DebugContext(ctx, "adopt businesses: the live nodes are unknown; not now", "node", m.self.ID, "err", err)
		return false
	}
	settled, serr := co.Liveness().Settled(ctx) // nil while not settled
	recs, err := co.Routes().Records(ctx)
	if err != nil {
		m.log.DebugContext(ctx, "adopt businesses: the route map is not current; not now", "node", m.self.ID, "err", err)
		return false
	}
	ts, err := m.reg.List(ctx) // every business of this node's copy (not clusterRegistry's owned few)
	if err != nil {
		m.log.WarnContext(ctx, "adopt businesses: list the registry", "node", m.self.ID, "err", err)
		return true
	}
	in := func(nodes []cluster.NodeInfo, id string) bool {
		return slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == id })
	}
	now := time.Now()
	m.mu.Lock()
	for id := range m.adoption.failed {
		if _, ok := recs[id]; !ok {
			delete(m.adoption.failed, id) // deleted since
		}
	}
	m.mu.Unlock()
	type orphan struct {
		t    tenancy.Tenant
		from cluster.Owner
	}
	var todo []orphan
	for _, t := range ts {
		if _, ok := recs[t.ID]; !ok || t.SchemaVersion > m.self.Schema {
			continue // deleted at the controller (or never the cluster's); or too new for this binary
		}
		m.mu.Lock()
		f := m.adoption.failed[t.ID]
		m.mu.Unlock()
		if now.Before(f.after) {
			continue
		}
		own, err := co.Placement().Owner(ctx, t.ID)
		// What this node holds, read after placement: a new business's claim (claimNew) marks
		// it being made before its placement, and holds it before that mark goes.
		m.mu.Lock()
		held, holds := m.held[t.ID]
		making := m.making[t.ID]
		m.mu.Unlock()
		switch {
		case making:
			continue // a new business this node is registering: it claims it itself
		case errors.Is(err, cluster.ErrNotFound):
			if !m.hasFile(t.ID) {
				continue
			}
		case err != nil:
			// Unknown, never "no owner"; and the store that failed this read would fail the
			// next ones too, each after the call timeout: the round ends here.
			m.log.DebugContext(ctx, "adopt businesses: placement is unknown; soon again", "node", m.self.ID, "err", err)
			return true
		case own.Node == m.self.ID:
			if holds && held == own.Epoch {
				continue
			}
		case in(live, own.Node):
			continue
		case serr != nil:
			again = true // the owner may show again in a moment
			continue
		case in(settled, own.Node) || nodeForSchema(t.ID, t.SchemaVersion, settled) != m.self.ID:
			continue
		}
		todo = append(todo, orphan{t: t, from: own})
	}
	if len(todo) == 0 {
		return again
	}
	sem := make(chan struct{}, adoptClaims)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, o := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || m.draining() {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := m.fence(ctx, o.t)
			m.mu.Lock()
			if err == nil {
				delete(m.adoption.failed, o.t.ID)
			} else if !errors.Is(err, cluster.ErrStale) && ctx.Err() == nil {
				if m.adoption.failed == nil {
					m.adoption.failed = map[string]adoptFailure{}
				}
				f := m.adoption.failed[o.t.ID]
				f.n++
				f.after = time.Now().Add(f.backoff())
				m.adoption.failed[o.t.ID] = f
			}
			m.mu.Unlock()
			switch {
			case err == nil:
				m.log.InfoContext(ctx, "adopted a business no live node held", "tenant", o.t.Slug, "owner", o.from.Node, "epoch", o.from.Epoch)
			case errors.Is(err, cluster.ErrStale):
				// Another node claimed it first (its view differed from this one's): its now.
				m.log.DebugContext(ctx, "adopt a business: another node claimed it first", "tenant", o.t.Slug, "err", err)
			case ctx.Err() != nil:
			default:
				mu.Lock()
				again = true
				mu.Unlock()
				m.log.WarnContext(ctx, "adopt a business no live node holds; tried again later", "tenant", o.t.Slug,
					"owner", o.from.Node, "epoch", o.from.Epoch, "err", err)
			}
		})
	}
	wg.Wait()
	return again
}

// hasFile says whether this node's data directory holds a database file of business id.
func (m *clusterMember) hasFile(id string) bool {
	p, err := m.tenants.Path(id)
	if err != nil {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Size() > 0
}
