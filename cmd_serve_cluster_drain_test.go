package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/web"
)

// drainMember is one in-process node of a cluster sharing a file:// replica: a coordinator on
// its running NATS node, a clusterMember and a platform over its own data directory.
func drainMember(t *testing.T, ctx context.Context, node *cluster.Node, voters int, data, repURL string) (*clusterMember, *platform) {
	t.Helper()
	nc, err := node.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// An HTTP address as serve advertises it (nothing listens there; only nodes with one take
	// a business in a drain or a move).
	m := &clusterMember{self: cluster.NodeInfo{ID: node.ID(), HTTP: "http://127.0.0.1:9"}, log: slog.New(slog.DiscardHandler),
		held: map[string]uint64{}, fenced: map[string]bool{}}
	p, err := openPlatform(ctx, config{data: data, replica: repURL, replicaAck: "sync", replicaAttach: true,
		writeFence: m.writeFence, replicaName: m.replicaName, restoreMissing: m.restoreMissing}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.close() })
	// The node advertises the schema it knows, as serve does: it claims no business newer.
	m.rep, m.tenants, m.reg, m.self.Schema = p.replica, p.tenants, p.reg, p.tenants.LatestVersion()
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: m.self, Voters: voters})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = co.Close() })
	m.co = co
	return m, p
}

// SIGTERM's drain: the owner s1 hands its business to the other live node s2 (placement to s2,
// the next epoch's marker fencing s1) after a final sync; s2's next request claims it and,
// although s2 holds an older copy of its own, serves the replica's newest, with s1's
// acknowledged write. The pause, from the start of the drain to s2 serving, is far below the
// liveness TTL a dead owner costs.
//
// With the nodes listening for moves (as serve does), the drain has s2 claim at once: s2 holds
// acme in epoch 3 by the time the drain returns.
//
// FencedTarget: s2 was fenced for acme earlier in its run (it owned acme, was paused, and
// another node claimed it: the cluster proof's SIGSTOP). The drain hands acme to s2 all the
// same; s2 must claim it afresh from the replica rather than refuse it for good, which left
// acme placed on s2 and unserved by every node until s2 restarted.
// twoMembers starts two members, s1 and s2, each on its own NATS node (the two voters), sharing
// a file:// replica; both data directories hold acme, created with the replica and then copied.
func twoMembers(t *testing.T, ctx context.Context) (nodes []*cluster.Node, ms []*clusterMember, ps []*platform) {
	t.Helper()
	repURL := "file://" + filepath.ToSlash(t.TempDir())
	d1, d2 := filepath.Join(t.TempDir(), "d1"), filepath.Join(t.TempDir(), "d2")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", d1, "--slug", "acme", "--name", "Acme", "--replica", repURL); code != 0 {
		t.Fatalf("tenants create: %d %s %s", code, out, errOut)
	}
	if out, err := exec.Command("cp", "-a", d1, d2).CombinedOutput(); err != nil {
		t.Fatalf("copy the data directory: %v %s", err, out)
	}
	addrs := freeAddrs(t, 2)
	for i, id := range []string{"s1", "s2"} {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: id, ClusterAddr: addrs[i], Peers: []string{addrs[1-i]},
			StoreDir: filepath.Join(t.TempDir(), id)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
	}
	for i, d := range []string{d1, d2} {
		m, p := drainMember(t, ctx, nodes[i], 2, d, repURL)
		ms, ps = append(ms, m), append(ps, p)
	}
	return nodes, ms, ps
}

func TestDrainHandsOverToLiveNode(t *testing.T) {
	t.Run("NextRequest", func(t *testing.T) { testDrain(t, false, false) })
	t.Run("ClaimAtOnce", func(t *testing.T) { testDrain(t, true, false) })
	t.Run("FencedTarget", func(t *testing.T) { testDrain(t, true, true) })
}

func testDrain(t *testing.T, listen, fencedTarget bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// s2 knows acme too (same registry and id), with a copy that is about to be stale.
	nodes, ms, ps := twoMembers(t, ctx)
	m1, m2, p1, p2 := ms[0], ms[1], ps[0], ps[1]
	for i, m := range []*clusterMember{m1, m2} { // each sees both heartbeats
		if listen {
			nc, err := nodes[i].Connect()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			if err := m.serveMoves(nc); err != nil {
				t.Fatal(err)
			}
		}
		for {
			ch := m.co.Liveness().Changed()
			live, _ := m.co.Liveness().Live(ctx) // unknown: not yet
			if len(live) == 2 {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("%s: both nodes never live: %v", m.self.ID, live)
			}
		}
	}
	tn, _, err := p1.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.fence(ctx, tn); err != nil {
		t.Fatalf("s1 claims acme: %v", err)
	}
	// An acknowledged write on s1: committed, in the replica, fence checked.
	l, err := p1.tenants.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.DB.Write.ExecContext(ctx, `INSERT INTO sessions(token, data, expiry) VALUES ('before-drain', x'00', 9e9)`)
	if err == nil {
		err = l.DB.Sync(ctx)
	}
	if err == nil {
		err = m1.writeFence(ctx, tn.ID)
	}
	l.Release()
	if err != nil {
		t.Fatalf("write on s1: %v", err)
	}

	if fencedTarget {
		m2.mu.Lock()
		m2.fenced[tn.ID] = true // as writeFence leaves it once a successor's marker exists
		m2.mu.Unlock()
	}
	start := time.Now()
	if n := m1.drain(ctx); n != 1 {
		t.Fatalf("drain handed over %d businesses, want 1", n)
	}
	released := time.Since(start)
	want := cluster.Owner{Node: "s2", Epoch: 2} // handed over; s2 claims at its next request
	if listen {
		want.Epoch = 3 // claimed already
		m2.mu.Lock()
		held := m2.held[tn.ID]
		m2.mu.Unlock()
		if held != 3 {
			t.Errorf("s2 holds acme in epoch %d after the drain, want 3", held)
		}
	}
	if own, err := m2.co.Placement().Refresh(ctx, tn.ID); err != nil || own != want {
		t.Fatalf("placement after the drain: %+v, %v; want %+v", own, err, want)
	}
	if ok, err := p1.replica.MarkerExists(ctx, replica.EpochMarker(tn.ID, 2)); err != nil || !ok {
		t.Errorf("marker of epoch 2 after the hand-over: %v, %v", ok, err)
	}
	if err := m1.writeFence(ctx, tn.ID); err == nil {
		t.Error("s1 still acknowledges acme's writes after handing it over")
	}
	if err := m1.fence(context.WithValue(ctx, forwardedKey{}, true), tn); !errors.Is(err, web.ErrMisdirected) {
		t.Errorf("s1 after the hand-over, a forwarded request: %v, want 421 (misdirected)", err)
	}

	// s2's next request claims acme (epoch 3) and serves the replica's copy, not its own.
	tn2, _, err := p2.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.fence(ctx, tn2); err != nil {
		t.Fatalf("s2 claims acme after the hand-over: %v", err)
	}
	var n int
	l, err = p2.tenants.Acquire(ctx, tn2)
	if err == nil {
		err = l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE token = 'before-drain'`).Scan(&n)
		l.Release()
	}
	pause := time.Since(start)
	if err != nil || n != 1 {
		t.Errorf("s1's acknowledged write on s2 after the hand-over: %d rows, %v; want 1", n, err)
	}
	if own, err := m2.co.Placement().Refresh(ctx, tn.ID); err != nil || own != (cluster.Owner{Node: "s2", Epoch: 3}) {
		t.Errorf("placement after s2's claim: %+v, %v; want s2 in epoch 3", own, err)
	}
	if err := m2.writeFence(ctx, tn.ID); err != nil {
		t.Errorf("s2 does not acknowledge acme's writes after claiming it: %v", err)
	}
	t.Logf("hand-over of one business: released in %s, served by s2 after %s", released, pause)
	if pause >= cluster.DefaultLivenessTTL {
		t.Errorf("pause %s, want well under the liveness TTL %s", pause, cluster.DefaultLivenessTTL)
	}
}

// reserva cluster move's mechanism: the owner s1 hears the move on its subject, releases acme
// as a drain does and has s2 claim it at once; s2 serves s1's acknowledged write. A move of a
// business s1 no longer holds, or to a node that is not live, is refused with a message.
func TestMoveBusiness(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nodes, ms, ps := twoMembers(t, ctx)
	m1, m2, p1, p2 := ms[0], ms[1], ps[0], ps[1]
	for i, m := range []*clusterMember{m1, m2} {
		nc, err := nodes[i].Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if err := m.serveMoves(nc); err != nil {
			t.Fatal(err)
		}
		for {
			ch := m.co.Liveness().Changed()
			if live, _ := m.co.Liveness().Live(ctx); len(live) == 2 {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("%s: both nodes never live", m.self.ID)
			}
		}
	}
	tn, _, err := p1.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.fence(ctx, tn); err != nil {
		t.Fatalf("s1 claims acme: %v", err)
	}
	l, err := p1.tenants.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.DB.Write.ExecContext(ctx, `INSERT INTO sessions(token, data, expiry) VALUES ('before-move', x'00', 9e9)`)
	if err == nil {
		err = l.DB.Sync(ctx)
	}
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	client, err := nodes[0].Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)

	var rep moveReply
	if err := requestJSON(ctx, client, moveSubject+"s1", moveRequest{TenantID: tn.ID, To: "nowhere"}, &rep); err != nil || !strings.Contains(rep.Err, "not live") {
		t.Errorf("move to a node that is not live: %+v %v", rep, err)
	}
	rep = moveReply{}
	if err := requestJSON(ctx, client, moveSubject+"s1", moveRequest{TenantID: tn.ID, To: "s2"}, &rep); err != nil || rep.Err != "" {
		t.Fatalf("move acme to s2: %+v %v", rep, err)
	}
	if rep.Epoch != 3 || rep.Pause <= 0 || rep.Pause >= cluster.DefaultLivenessTTL {
		t.Errorf("move: %+v, want s2 in epoch 3 after a pause well under the liveness TTL", rep)
	}
	t.Logf("planned move of one business: released in %s, pause %s", rep.Released, rep.Pause)
	tn2, _, err := p2.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if l, err = p2.tenants.Acquire(ctx, tn2); err == nil {
		err = l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE token = 'before-move'`).Scan(&n)
		l.Release()
	}
	if err != nil || n != 1 {
		t.Errorf("s1's write on s2 after the move: %d rows, %v; want 1", n, err)
	}
	rep = moveReply{}
	if err := requestJSON(ctx, client, moveSubject+"s1", moveRequest{TenantID: tn.ID, To: "s2"}, &rep); err != nil || !strings.Contains(rep.Err, "does not serve") {
		t.Errorf("second move from s1: %+v %v, want refused", rep, err)
	}
	if err := requestJSON(ctx, client, moveSubject+"gone", moveRequest{TenantID: tn.ID, To: "s2"}, &rep); err == nil || !strings.Contains(err.Error(), "no node answers") {
		t.Errorf("move from a node that is not running: %v", err)
	}

	// The command moves it back, joining the cluster through s1's address.
	s1Addr := nodes[0].ClusterAddr()
	code, out, errOut := reserva(t, "", "cluster", "move", "--peers", s1Addr, "--tenant", "acme", "--to", "s1")
	if code != 0 || !strings.Contains(out, "Moved acme from s2 to s1 (epoch 5): paused ") {
		t.Errorf("cluster move back: %d %q %q", code, out, errOut)
	}
	if !m1.owns(ctx, tn.ID) || m2.owns(ctx, tn.ID) {
		t.Error("after the move back, s1 does not own acme alone")
	}
	code, out, errOut = reserva(t, "", "cluster", "move", "--peers", s1Addr, "--tenant", "nobody", "--to", "s1")
	if code != 1 || !strings.Contains(errOut, "no business with that slug") {
		t.Errorf("cluster move of an unknown business: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"cluster", "move", "--tenant", "acme", "--to", "s1"},
		{"cluster", "move", "--peers", s1Addr, "--to", "s1"},
		{"cluster", "move", "--peers", s1Addr, "--tenant", "acme", "--to", "a b"},
	} {
		if code, _, errOut := reserva(t, "", args...); code != 2 {
			t.Errorf("%v: %d %q, want a usage error", args, code, errOut)
		}
	}
}

// A drain or a move hands a business only to a node that serves it: a bare NATS voter or a
// CLI's member is live but has no HTTP address, and a node of an older Reserva cannot open it.
// (A drain that picked a voter left the business unserved until a request claimed it.)
func TestMoveTargetServesTheBusiness(t *testing.T) {
	live := []cluster.NodeInfo{
		{ID: "voter"},
		{ID: "old", HTTP: "http://10.0.0.2:8080", Schema: 9},
		{ID: "new", HTTP: "http://10.0.0.3:8080", Schema: 10},
	}
	for _, tc := range []struct {
		to   string
		want string // part of the refusal; "" when the move may go
	}{
		{"gone", "not live"},
		{"voter", "no HTTP address"},
		{"old", "older Reserva"},
		{"new", ""},
	} {
		got := moveTarget(live, tc.to, 10)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("move to %s: %q, want %q", tc.to, got, tc.want)
		}
	}
	// Every business goes to the one node that can serve it, whatever rendezvous says of the rest.
	for i := range 50 {
		id := fmt.Sprintf("tenant%020d", i)
		if to := nodeForSchema(id, 10, live); to != "new" {
			t.Errorf("drain of %s picks %q, want the only node that serves schema 10", id, to)
		}
	}
}

// A node fenced out of a business (a successor claimed it while this node still held it) may
// own it again later, in a later epoch: when the successor hands it back (a drain, a move, a
// rolling restart) or dies. Fencing is per epoch. (It was for the whole run: the rolling
// restart of the cluster proof handed two businesses to the node paused earlier, which
// answered 421 "claimed by another node" to every request until it restarted.)
func TestFencedNodeTakesBusinessBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	repURL := "file://" + filepath.ToSlash(t.TempDir())
	data := filepath.Join(t.TempDir(), "d1")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--replica", repURL); code != 0 {
		t.Fatalf("tenants create: %d %s %s", code, out, errOut)
	}
	addrs := freeAddrs(t, 2)
	n1, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "s1", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "s1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n1.Shutdown)
	voter, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "voter", ClusterAddr: addrs[1], Peers: addrs[:1],
		StoreDir: filepath.Join(t.TempDir(), "voter")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(voter.Shutdown)
	m1, p1 := drainMember(t, ctx, n1, 2, data, repURL)
	for {
		ch := m1.co.Liveness().Changed()
		if _, err := m1.co.Liveness().Live(ctx); err == nil {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("s1's liveness never showed")
		}
	}
	tn, _, err := p1.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.fence(ctx, tn); err != nil {
		t.Fatalf("s1 claims acme: %v", err)
	}
	own, err := m1.co.Placement().Refresh(ctx, tn.ID)
	if err != nil || own.Node != "s1" {
		t.Fatalf("placement after s1's claim: %+v %v", own, err)
	}
	// s2 claims it as a successor does (placement, then the next epoch's marker) ...
	s2 := cluster.Owner{Node: "s2", Epoch: own.Epoch + 1}
	if err := m1.co.Placement().CompareAndSwap(ctx, tn.ID, own, s2); err != nil {
		t.Fatal(err)
	}
	if err := m1.rep.CreateMarker(ctx, replica.EpochMarker(tn.ID, s2.Epoch)); err != nil {
		t.Fatal(err)
	}
	if err := m1.writeFence(ctx, tn.ID); !errors.Is(err, errFenced) {
		t.Fatalf("s1's write after s2's claim: %v, want fenced", err)
	}
	// ... and hands it back as a drain does.
	back := cluster.Owner{Node: "s1", Epoch: s2.Epoch + 1}
	if err := m1.co.Placement().CompareAndSwap(ctx, tn.ID, s2, back); err != nil {
		t.Fatal(err)
	}
	if err := m1.rep.CreateMarker(ctx, replica.EpochMarker(tn.ID, back.Epoch)); err != nil {
		t.Fatal(err)
	}
	// As a request after a lost claim would, s1 reads placement from the store (its watched
	// view may lag the hand-back by a moment; a claim against that view is refused, safely).
	if own, err := m1.co.Placement().Refresh(ctx, tn.ID); err != nil || own != back {
		t.Fatalf("placement after the hand-back: %+v %v, want %+v", own, err, back)
	}
	if err := m1.fence(ctx, tn); err != nil {
		t.Fatalf("s1 serves acme handed back in epoch %d: %v", back.Epoch, err)
	}
	if err := m1.writeFence(ctx, tn.ID); err != nil {
		t.Errorf("s1's write after taking acme back: %v", err)
	}
	if !m1.owns(ctx, tn.ID) {
		t.Error("s1 does not run acme's jobs after taking it back")
	}
}
