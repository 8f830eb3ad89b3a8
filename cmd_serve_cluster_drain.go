package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/replica"
)

// drain hands every business this node holds to another live node before it stops (SIGTERM in
// cluster mode), so that the next request for it is served within a claim's time instead of
// waiting out the liveness TTL. Each goes to the rendezvous choice among the other live
// nodes. A business that cannot be handed over (no other live node, placement unreadable, a
// request that outlasts the exclusive gate) keeps its placement: after the TTL any node may
// claim it, as when a node dies. It returns how many were handed over.
func (m *clusterMember) drain(ctx context.Context) int {
	m.stopAdopting() // draining from now on: what it claimed it would have to hand over too
	co := m.coordinator()
	if co == nil || m.tenants == nil {
		return 0
	}
	// Advertised first, so that no node picks this one for a new business or a hand-over
	// while it hands its own over.
	if err := co.Liveness().SetDraining(ctx, true); err != nil {
		m.log.WarnContext(ctx, "drain: advertise it; others may still pick this node a moment", "node", m.self.ID, "err", err)
	}
	m.mu.Lock()
	held := maps.Clone(m.held)
	m.mu.Unlock()
	if len(held) == 0 {
		return 0
	}
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		m.log.WarnContext(ctx, "drain: the live nodes are unknown; businesses wait for the liveness TTL", "node", m.self.ID, "err", err)
		return 0
	}
	others := slices.DeleteFunc(slices.Clone(live), func(n cluster.NodeInfo) bool { return n.ID == m.self.ID })
	if len(others) == 0 {
		m.log.WarnContext(ctx, "drain: no other live node; businesses wait for the next one to claim them", "node", m.self.ID, "businesses", len(held))
		return 0
	}
	m.mu.Lock()
	nc := m.moves
	m.mu.Unlock()
	start := time.Now()
	n := 0
	var claims sync.WaitGroup
	sem := make(chan struct{}, drainClaims)
	for _, id := range slices.Sorted(maps.Keys(held)) {
		if ctx.Err() != nil {
			break
		}
		schema := 0
		if t, err := m.tenants.Registry().Get(ctx, id); err == nil {
			schema = t.SchemaVersion
		}
		to := nodeForSchema(id, schema, others)
		if to == "" {
			m.log.WarnContext(ctx, "drain: no other live node knows the business's schema; it waits for one", "tenant_id", id, "schema", schema)
			continue
		}
		t0 := time.Now()
		if err := m.release(ctx, co, id, held[id], to); err != nil {
			m.log.WarnContext(ctx, "drain: hand over a business", "tenant_id", id, "to", to, "err", err)
			continue
		}
		n++
		m.log.InfoContext(ctx, "handed over a business", "tenant_id", id, "epoch", held[id], "to", to,
			"took", time.Since(t0).Round(time.Microsecond))
		if nc == nil {
			continue
		}
		// The target claims it now, while the next business is released, rather than at its
		// next request (which may meet a view of placement that has not caught up yet).
		sem <- struct{}{}
		claims.Go(func() {
			defer func() { <-sem }()
			var rep moveReply
			err := requestJSON(ctx, nc, claimSubject+to, moveRequest{TenantID: id}, &rep)
			if err == nil && rep.Err != "" {
				err = errors.New(rep.Err)
			}
			if err != nil {
				m.log.WarnContext(ctx, "drain: the target claims at its next request instead", "tenant_id", id, "to", to, "err", err)
			}
		})
	}
	claims.Wait()
	m.log.InfoContext(ctx, "drained", "node", m.self.ID, "handed_over", n, "of", len(held), "took", time.Since(start).Round(time.Millisecond))
	return n
}

// drainClaims bounds the claims a drain asks for at once (each restores from the replica).
const drainClaims = 4

// release hands business id, held here in epoch, to node to: under the business's exclusive
// gate (new requests wait, those in flight finish, its database closes with a final sync and
// leaves the replicator) this node stops holding it, placement moves to {to, epoch+1}, and the
// marker of epoch+1 fences this node in the store. to claims epoch+2 at its next request and,
// the placement being one it did not claim in this run, restores from the replica (the newest
// epoch holding a copy: this one's, after its final sync). Every write this node acknowledged
// was in the replica before its answer (the write rule), so none is lost even if the final
// sync fails.
func (m *clusterMember) release(ctx context.Context, co cluster.Coordinator, id string, epoch uint64, to string) error {
	err := m.tenants.Exclusive(ctx, id, func() error {
		m.mu.Lock()
		if m.held[id] != epoch {
			m.mu.Unlock()
			return fmt.Errorf("hand over tenant %s: no longer held in epoch %d", id, epoch)
		}
		delete(m.held, id) // no write here is acknowledged from now on (writeFence)
		m.mu.Unlock()
		next := cluster.Owner{Node: to, Epoch: epoch + 1}
		if err := co.Placement().CompareAndSwap(ctx, id, cluster.Owner{Node: m.self.ID, Epoch: epoch}, next); err != nil {
			return fmt.Errorf("hand over tenant %s to %s: %w", id, to, err)
		}
		m.handedOver.Add(1)
		if err := m.rep.CreateMarker(ctx, replica.EpochMarker(id, next.Epoch)); err != nil && !errors.Is(err, replica.ErrExists) {
			// Placement moved already; the successor's own claim creates the next marker.
			m.log.WarnContext(ctx, "drain: mark the hand-over in the replica", "tenant_id", id, "epoch", next.Epoch, "err", err)
		}
		return nil
	})
	return err
}
