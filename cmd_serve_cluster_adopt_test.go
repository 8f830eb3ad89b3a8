package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
)

// adoptRig is two in-process members, s1 and s2, each on its own NATS node, sharing a file://
// replica; both data directories hold acme (created with the replica, so it has a copy there),
// whose record the route map holds as the controller publishes it.
type adoptRig struct {
	ctx    context.Context
	nodes  []*cluster.Node
	ms     []*clusterMember
	ps     []*platform
	tenant tenancy.Tenant
}

func newAdoptRig(t *testing.T, ctx context.Context) *adoptRig {
	t.Helper()
	r := &adoptRig{ctx: ctx}
	r.nodes, r.ms, r.ps = twoMembers(t, ctx)
	for _, m := range r.ms {
		r.await(t, m.self.ID+" sees both nodes live", m.co.Liveness().Changed, func() bool {
			live, _ := m.co.Liveness().Live(ctx) // unknown: not yet
			return len(live) == 2
		})
	}
	var err error
	if r.tenant, _, err = r.ps[0].tenants.Resolve(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := r.ms[0].publish(ctx, r.ms[0].co, r.tenant.ID); err != nil {
		t.Fatal(err)
	}
	for _, m := range r.ms {
		r.await(t, m.self.ID+" has acme's record", m.co.Routes().Changed, func() bool {
			recs, _ := m.co.Routes().Records(ctx) // unknown: not yet
			_, ok := recs[r.tenant.ID]
			return ok
		})
	}
	return r
}

// await waits until cond holds, checking at each change signalled by changed and every 50 ms,
// until the rig's context ends.
func (r *adoptRig) await(t *testing.T, what string, changed func() <-chan struct{}, cond func() bool) {
	t.Helper()
	awaitCond(t, r.ctx, what, changed, cond, nil)
}

// owner reads acme's owner from the store itself.
func (r *adoptRig) owner(t *testing.T, m *clusterMember) cluster.Owner {
	t.Helper()
	own, err := m.co.Placement().Refresh(r.ctx, r.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return own
}

// A business whose owner dies (no drain: its heartbeat stops) is claimed by the surviving node
// without any request for it, and its jobs run there: a mail the dead owner acknowledged, due
// in its outbox, is sent by the survivor's mail job. (It waited for the business's next
// request: a customer's reminder for tomorrow went out only if someone opened the page.)
func TestAdoptBusinessOfDeadOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	m1, m2, p1, p2, tn := r.ms[0], r.ms[1], r.ps[0], r.ps[1], r.tenant
	if err := m1.fence(ctx, tn); err != nil {
		t.Fatalf("s1 claims acme: %v", err)
	}
	// A mail queued on s1 and acknowledged (committed, in the replica, fence checked), never sent.
	l, err := p1.tenants.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	err = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).QueueBusinessList(ctx, "owner@acme.example",
		[]domain.BusinessLink{{Name: "Acme", Slug: "acme"}})
	if err == nil {
		err = l.DB.Sync(ctx)
	}
	if err == nil {
		err = m1.writeFence(ctx, tn.ID)
	}
	l.Release()
	if err != nil {
		t.Fatalf("queue a mail on s1: %v", err)
	}

	// s2's mail job, as serve runs it in cluster mode.
	mailDir := t.TempDir()
	sched, err := jobs.New(p2.tenants, jobs.Config{Owns: m2.owns,
		Mail: jobs.MailConfig{Mailer: jobs.FileMailer{Dir: mailDir, From: "no-reply@reserva.invalid"}, BaseURL: "http://127.0.0.1:8080"}},
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sched.Shutdown() }) // never started
	sent := func() []string {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(mailDir, tn.ID))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	// While s1 lives, s2 adopts nothing of its, nor sends its mail.
	m2.adoptRound(ctx, m2.co)
	if own := r.owner(t, m2); own != (cluster.Owner{Node: "s1", Epoch: 1}) {
		t.Fatalf("acme's owner while s1 lives: %+v, want s1 in epoch 1", own)
	}
	if _, err := sched.Run(ctx, "reminders"); err != nil {
		t.Fatal(err)
	}
	if got := sent(); len(got) != 0 {
		t.Fatalf("s2 sent acme's mail while s1 owned it: %v", got)
	}

	r.awaitSettled(t, m2.co)
	m2.startAdopting(ctx, m2.co)
	t.Cleanup(m2.stopAdopting)
	// s1 dies without a drain: its heartbeat stops (its coordinator closes; the business stays
	// placed on it, and s1 still believes it holds it).
	died := time.Now()
	if err := m1.co.Close(); err != nil {
		t.Fatal(err)
	}
	// No request for acme from here on.
	r.await(t, "s2 adopts acme", m2.co.Placement().Changed, func() bool { return m2.owns(ctx, tn.ID) })
	t.Logf("s2 owns acme %s after s1 died", time.Since(died).Round(time.Millisecond))
	if own := r.owner(t, m2); own != (cluster.Owner{Node: "s2", Epoch: 2}) {
		t.Errorf("acme's owner after adoption: %+v, want s2 in epoch 2", own)
	}
	if err := m1.writeFence(ctx, tn.ID); err == nil {
		t.Error("s1 still acknowledges acme's writes after s2 adopted it")
	}
	out, err := sched.Run(ctx, "reminders")
	if err != nil {
		t.Fatal(err)
	}
	got := sent()
	if len(got) != 1 {
		t.Fatalf("s2's mail job after adopting acme: %q, sent %v; want the one mail s1 queued", out, got)
	}
	b, err := os.ReadFile(filepath.Join(mailDir, tn.ID, got[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "owner@acme.example") || !strings.Contains(string(b), "Your businesses on Reserva") {
		t.Errorf("the mail s2 sent is not the one s1 queued:\n%s", b)
	}
}

// A business whose owner is gone is claimed by one node only, the rendezvous choice among the
// live nodes: the other's round leaves it alone (no race), the choice's takes it.
func TestAdoptOnlyRendezvousChoice(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	tn := r.tenant
	gone := cluster.Owner{Node: "ghost", Epoch: 1}
	if err := r.ms[0].co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{}, gone); err != nil {
		t.Fatal(err)
	}
	live, err := r.ms[0].co.Liveness().Live(ctx)
	if err != nil {
		t.Fatal(err)
	}
	choice := nodeForSchema(tn.ID, tn.SchemaVersion, live)
	i := slices.IndexFunc(r.ms, func(m *clusterMember) bool { return m.self.ID == choice })
	if i < 0 {
		t.Fatalf("rendezvous chose %q among %v", choice, live)
	}
	chosen, other := r.ms[i], r.ms[1-i]
	for _, m := range r.ms { // each view shows the dead owner
		r.await(t, m.self.ID+" sees ghost own acme", m.co.Placement().Changed, func() bool {
			own, err := m.co.Placement().Owner(ctx, tn.ID)
			return err == nil && own == gone
		})
	}

	for _, m := range r.ms {
		r.awaitSettled(t, m.co)
	}
	if other.adoptRound(ctx, other.co) {
		t.Errorf("%s's round reports a failed claim", other.self.ID)
	}
	if own := r.owner(t, other); own != gone || other.owns(ctx, tn.ID) {
		t.Fatalf("after %s's round (rendezvous chose %s): owner %+v; want it left to %s", other.self.ID, choice, own, choice)
	}
	if chosen.adoptRound(ctx, chosen.co) {
		t.Errorf("%s's round reports a failed claim", chosen.self.ID)
	}
	if own := r.owner(t, chosen); own != (cluster.Owner{Node: choice, Epoch: 2}) || !chosen.owns(ctx, tn.ID) {
		t.Errorf("after %s's round: owner %+v; want %s in epoch 2", chosen.self.ID, own, choice)
	}
}

// awaitSettled waits until co's view of the live set has settled (Liveness.Settled).
func (r *adoptRig) awaitSettled(t *testing.T, co cluster.Coordinator) {
	t.Helper()
	r.await(t, "a settled view", co.Liveness().Changed, func() bool {
		_, err := co.Liveness().Settled(r.ctx)
		return err == nil
	})
}

// Nothing is claimed on a view that is not current (this node's liveness view gone: it may be
// cut off, and others' absence proves nothing), nor by a draining node; with a current view
// the same business is claimed.
func TestAdoptNeedsCurrentView(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	tn := r.tenant
	m, watcher := r.ms[0], r.ms[1]
	gone := cluster.Owner{Node: "ghost", Epoch: 1}
	if err := m.co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{}, gone); err != nil {
		t.Fatal(err)
	}
	// Only m knows acme from here on: whichever node rendezvous picks, m is the only one left.
	if err := watcher.co.Close(); err != nil {
		t.Fatal(err)
	}
	r.await(t, "s1 alone live", m.co.Liveness().Changed, func() bool {
		live, err := m.co.Liveness().Live(ctx)
		return err == nil && len(live) == 1
	})

	// The view goes: the coordinator's watches stop (Live answers unknown), while the store
	// itself still answers reads and compare-and-sets.
	stale := m.co
	if err := stale.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Liveness().Live(ctx); err == nil {
		t.Fatal("a closed coordinator's liveness view is still current")
	}
	if m.adoptRound(ctx, stale) {
		t.Error("a round on a view that is not current reports a failed claim")
	}
	if own, err := stale.Placement().Refresh(ctx, tn.ID); err != nil || own != gone {
		t.Fatalf("after a round on a view that is not current: owner %+v, %v; want ghost's still", own, err)
	}

	// A current view again (s1 rejoins), but s1 drains.
	nc, err := r.nodes[0].Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: m.self, Voters: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = co.Close() })
	m.mu.Lock()
	m.co = co
	m.mu.Unlock()
	r.await(t, "s1 live again with acme's record", co.Liveness().Changed, func() bool {
		_, lerr := co.Liveness().Live(ctx)
		recs, rerr := co.Routes().Records(ctx)
		_, ok := recs[tn.ID]
		return lerr == nil && rerr == nil && ok
	})
	r.awaitSettled(t, co)
	m.stopAdopting()
	if m.adoptRound(ctx, co) {
		t.Error("a draining node's round reports a failed claim")
	}
	if own, err := co.Placement().Refresh(ctx, tn.ID); err != nil || own != gone {
		t.Fatalf("after a draining node's round: owner %+v, %v; want ghost's still", own, err)
	}

	m.mu.Lock()
	m.adoption.draining = false // as a node that does not drain
	m.mu.Unlock()
	if m.adoptRound(ctx, co) {
		t.Error("the round on a current view reports a failed claim")
	}
	if own, err := co.Placement().Refresh(ctx, tn.ID); err != nil || own != (cluster.Owner{Node: "s1", Epoch: 2}) || !m.owns(ctx, tn.ID) {
		t.Errorf("after a round on a current view: owner %+v, %v; want s1 in epoch 2", own, err)
	}
}

// A business whose claim keeps failing (its copy cannot be restored, say) is tried at the next
// round once, then after a pause that doubles up to a bound: each failed claim of a business
// placed before costs an epoch.
func TestAdoptBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{
		0: 0, 1: 0, 2: adoptEvery, 3: 2 * adoptEvery, 4: 4 * adoptEvery, 6: 16 * adoptEvery, 7: adoptBackoffMax, 100: adoptBackoffMax,
	} {
		if got := (adoptFailure{n: n}).backoff(); got != want {
			t.Errorf("after %d failures: pause %s, want %s", n, got, want)
		}
	}
}

// jumpClock is time.Now moved forward by what jump adds: to this node it looks as if its
// process had been paused that long.
type jumpClock struct{ off atomic.Int64 }

func (c *jumpClock) now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *jumpClock) jump(d time.Duration) { c.off.Add(int64(d)) }

// After a gap in its own heartbeats (a pause longer than the TTL), a node's own heartbeat
// shows again before the others' renewals do, and for that moment its live set lacks them. A
// round then must not take a live node's business. (On the cluster proof, the round that
// followed the bucket's stall while its leader was elected again took both businesses of a
// live node, which was then fenced for them.)
func TestAdoptNotAfterGap(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	m1, m2, tn := r.ms[0], r.ms[1], r.tenant
	if err := m2.fence(ctx, tn); err != nil {
		t.Fatalf("s2 claims acme: %v", err)
	}
	// s1 on a clock of its own; s2 renewing every 3 s (within the 5 s TTL), so that a pause
	// of s1 right after its own renewal ends, one time in three at least, before s2's next.
	var clock jumpClock
	rejoin := func(i int, cfg cluster.NATSConfig) *cluster.NATSCoordinator {
		nc, err := r.nodes[i].Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if err := r.ms[i].co.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.Self, cfg.Voters = r.ms[i].self, 2
		co, err := cluster.NewNATSCoordinator(ctx, nc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = co.Close() })
		r.ms[i].mu.Lock()
		r.ms[i].co = co
		r.ms[i].mu.Unlock()
		return co
	}
	co := rejoin(0, cluster.NATSConfig{Now: clock.now})
	rejoin(1, cluster.NATSConfig{HeartbeatEvery: 3 * time.Second})
	r.awaitSettled(t, co)
	r.await(t, "s1 sees s2 live", co.Liveness().Changed, func() bool {
		live, err := co.Liveness().Settled(ctx)
		return err == nil && len(live) == 2
	})
	if own := r.owner(t, m1); own != (cluster.Owner{Node: "s2", Epoch: 1}) {
		t.Fatalf("acme's owner: %+v, want s2 in epoch 1", own)
	}

	// s1 "pauses" longer than the TTL. When its own heartbeat shows again before s2's next
	// renewal does, its live set is s1 alone until that renewal: the moment to catch. (When
	// s2's renewal comes first there is no such moment: pause again.)
	caught := false
	for try := 0; try < 10 && !caught; try++ {
		clock.jump(cluster.DefaultLivenessTTL + time.Second)
		tick := time.NewTicker(2 * time.Millisecond)
		for {
			live, err := co.Liveness().Live(ctx)
			if err == nil {
				caught = len(live) == 1 && live[0].ID == "s1"
				break
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("s1's view after the gap: %v", err)
			}
		}
		tick.Stop()
	}
	if !caught {
		t.Fatal("s1's own heartbeat never showed before s2's renewal in 10 pauses")
	}
	m1.adoptRound(ctx, co)
	if own := r.owner(t, m1); own != (cluster.Owner{Node: "s2", Epoch: 1}) {
		t.Fatalf("s1's round right after a gap took acme from s2, alive: owner %+v", own)
	}
	r.awaitSettled(t, co)
	if m1.adoptRound(ctx, co) {
		t.Error("s1's round on a settled view reports something left to do")
	}
	if own := r.owner(t, m1); own != (cluster.Owner{Node: "s2", Epoch: 1}) {
		t.Errorf("s1's round on a settled view took acme from s2: owner %+v", own)
	}
}

// cluster drain --resume: a node that drained adopts again. Its adoption, stopped by the drain,
// runs again under the context it was first started with, and takes a business no live node
// holds without a request.
func TestResumeAdoptsAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	tn := r.tenant
	m, other := r.ms[0], r.ms[1]
	gone := cluster.Owner{Node: "ghost", Epoch: 1}
	if err := m.co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{}, gone); err != nil {
		t.Fatal(err)
	}
	// s1 alone is live: it is the rendezvous choice for acme.
	if err := other.co.Close(); err != nil {
		t.Fatal(err)
	}
	m.stopAdopting()           // drained
	m.startAdopting(ctx, m.co) // as at join: recorded, not started while draining
	if !m.draining() {
		t.Fatal("a drained node is not draining")
	}
	m.resumeAdopting(m.co)
	t.Cleanup(m.stopAdopting)
	if m.draining() {
		t.Error("a resumed node still drains")
	}
	r.await(t, "s1 adopts acme after --resume", m.co.Placement().Changed, func() bool {
		own, err := m.co.Placement().Owner(ctx, tn.ID)
		return err == nil && own.Node == "s1"
	})
}

// A business this node is registering (a sign-up: its registry write, then its claim in epoch
// 1) is placed on this node before this node holds it. Neither adoption nor a request may take
// it meanwhile for one placed here before a restart: claiming epoch 2 dropped the half-made
// copy, and the sign-up's first sync then waited until its request timed out (a forwarded
// sign-up answered 503 after 5 s, and its retry found its own address taken).
func TestNewBusinessNotTakenWhileMade(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newAdoptRig(t, ctx)
	tn := r.tenant
	m := r.ms[0]
	done := m.creating(tn.ID) // as registryWrite does for a create
	placed := cluster.Owner{Node: m.self.ID, Epoch: 1}
	if err := m.co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{}, placed); err != nil { // claimNew's
		t.Fatal(err)
	}
	r.await(t, "s1 sees acme placed on it", m.co.Placement().Changed, func() bool {
		own, err := m.co.Placement().Owner(ctx, tn.ID)
		return err == nil && own == placed
	})
	r.awaitSettled(t, m.co)
	if m.adoptRound(ctx, m.co) {
		t.Error("the round reports a failed claim")
	}
	if own := r.owner(t, m); own != placed {
		t.Fatalf("adoption took a business being made: owner %+v, want %+v", own, placed)
	}
	if err := m.fence(ctx, tn); !errors.Is(err, tenancy.ErrUnavailable) {
		t.Fatalf("a request for a business being made: %v, want it told to try again", err)
	}
	if own := r.owner(t, m); own != placed {
		t.Fatalf("a request took a business being made: owner %+v, want %+v", own, placed)
	}
	m.mu.Lock()
	m.held[tn.ID] = 1 // claimNew's end
	m.mu.Unlock()
	done()
	if err := m.fence(ctx, tn); err != nil {
		t.Errorf("the made business's request: %v", err)
	}
	if own := r.owner(t, m); own != placed {
		t.Errorf("after it was made: owner %+v, want %+v", own, placed)
	}
}
