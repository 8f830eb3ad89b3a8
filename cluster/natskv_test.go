package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/tenancy"
)

// testNode is one node of a test cluster: its NATS server and its coordinator.
type testNode struct {
	node *cluster.Node
	co   *cluster.NATSCoordinator
}

// Short timings keep the tests quick; the rules are the same as with the defaults.
const (
	testTTL       = 2 * time.Second
	testHeartbeat = 250 * time.Millisecond
)

// testWriter sends a logger's lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return addrs
}

// startCluster starts n nodes in this process, each a JetStream voter with routes to the
// others, and a coordinator on each; they stop when the test ends.
// startNodes starts n embedded NATS servers on free loopback ports, each the others' peer. A
// port found free can be taken by another test's process before a server listens on it: then
// they all start again on other ports (three tries).
func startNodes(t *testing.T, ctx context.Context, n int) []*testNode {
	t.Helper()
	dir := t.TempDir()
	for try := 1; ; try++ {
		addrs := freeAddrs(t, n)
		nodes := make([]*testNode, 0, n)
		var err error
		for i := range n {
			id := fmt.Sprintf("n%d", i+1)
			peers := slices.Delete(slices.Clone(addrs), i, i+1)
			var node *cluster.Node
			node, err = cluster.StartNode(ctx, cluster.NodeConfig{ID: id, ClusterAddr: addrs[i], Peers: peers,
				StoreDir: filepath.Join(dir, fmt.Sprint(try), id)})
			if err != nil {
				break
			}
			nodes = append(nodes, &testNode{node: node})
		}
		if err == nil {
			for _, tn := range nodes {
				t.Cleanup(tn.node.Shutdown)
			}
			return nodes
		}
		for _, tn := range nodes {
			tn.node.Shutdown()
		}
		if try == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

func startCluster(t *testing.T, n int) []*testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nodes := startNodes(t, ctx, n)
	// The coordinators start together: the buckets wait for JetStream's first election.
	errc := make(chan error, n)
	for i, tn := range nodes {
		go func() {
			nc, err := tn.node.Connect()
			if err != nil {
				errc <- err
				return
			}
			t.Cleanup(nc.Close)
			tn.co, err = cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{
				Self:   cluster.NodeInfo{ID: tn.node.ID(), HTTP: fmt.Sprintf("http://node%d.invalid", i+1), Schema: 7},
				Voters: n, LivenessTTL: testTTL, HeartbeatEvery: testHeartbeat,
				Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("on", tn.node.ID()),
			})
			errc <- err
		}()
	}
	for range nodes {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range nodes {
		// Before the servers stop (cleanups run last first), so that no goroutine of the
		// coordinator logs after the test. Nodes stopped by the test fail their goodbye.
		t.Cleanup(func() { _ = tn.co.Close() })
	}
	return nodes
}

// waitFor waits until cond holds, checking at each change signalled by changed (and at least
// every tick, for conditions that also move with time), failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, changed func() <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
}

func liveIDs(t *testing.T, l cluster.Liveness) ([]string, error) {
	t.Helper()
	nodes, err := l.Live(t.Context())
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids, err
}

func TestNATSCluster(t *testing.T) {
	start := time.Now()
	nodes := startCluster(t, 3)
	t.Logf("3 nodes formed a JetStream cluster in %s", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()

	t.Run("LivenessSeesAll", func(t *testing.T) {
		for _, tn := range nodes {
			l := tn.co.Liveness()
			waitFor(t, tn.node.ID()+" sees 3 nodes", 5*time.Second, l.Changed, func() bool {
				ids, err := liveIDs(t, l)
				return err == nil && slices.Equal(ids, []string{"n1", "n2", "n3"})
			})
		}
		live, err := nodes[0].co.Liveness().Live(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if live[1].HTTP != "http://node2.invalid" || live[1].Schema != 7 {
			t.Errorf("n1 sees n2 as %+v, want its advertised address and schema", live[1])
		}
	})

	t.Run("RouteWatch", func(t *testing.T) {
		writer, reader := nodes[0].co.Routes(), nodes[2].co.Routes()
		if _, err := reader.Lookup(ctx, cluster.RouteSlug, "zoë-yoga"); !errors.Is(err, cluster.ErrNotFound) {
			t.Fatalf("lookup of an unknown slug: %v, want ErrNotFound", err)
		}
		r := cluster.Route{TenantID: "abc123", Slug: "zoë-yoga", Status: tenancy.TenantActive, Schema: 7}
		begin := time.Now()
		if err := writer.Put(ctx, cluster.RouteSlug, "zoë-yoga", r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "route seen on another node", 2*time.Second, reader.Changed, func() bool {
			got, err := reader.Lookup(ctx, cluster.RouteSlug, "zoë-yoga")
			return err == nil && got == r
		})
		t.Logf("a route put on n1 was seen on n3 %s after the put began", time.Since(begin))

		// A host route, then its removal.
		if err := writer.Put(ctx, cluster.RouteHost, "book.zoe.example", r); err != nil {
			t.Fatal(err)
		}
		if err := writer.Delete(ctx, cluster.RouteHost, "book.zoe.example"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "host route removal seen", 2*time.Second, reader.Changed, func() bool {
			_, err := reader.Lookup(ctx, cluster.RouteHost, "book.zoe.example")
			return errors.Is(err, cluster.ErrNotFound)
		})
	})

	t.Run("PlacementCAS", func(t *testing.T) {
		p1, p2 := nodes[0].co.Placement(), nodes[1].co.Placement()
		const tenant = "tenant42"
		if _, err := p2.Owner(ctx, tenant); !errors.Is(err, cluster.ErrNotFound) {
			t.Fatalf("owner of an unplaced tenant: %v, want ErrNotFound", err)
		}
		e1 := cluster.Owner{Node: "n1", Epoch: 1}
		if err := p1.CompareAndSwap(ctx, tenant, cluster.Owner{}, e1); err != nil {
			t.Fatal(err)
		}
		// A second first claim loses: the tenant is placed already.
		if err := p2.CompareAndSwap(ctx, tenant, cluster.Owner{}, cluster.Owner{Node: "n2", Epoch: 1}); !errors.Is(err, cluster.ErrStale) {
			t.Fatalf("second claim of epoch 1: %v, want ErrStale", err)
		}
		e2 := cluster.Owner{Node: "n2", Epoch: 2}
		if err := p2.CompareAndSwap(ctx, tenant, e1, e2); err != nil {
			t.Fatal(err)
		}
		// n1, still thinking it owns epoch 1, cannot take the tenant back.
		if err := p1.CompareAndSwap(ctx, tenant, e1, cluster.Owner{Node: "n1", Epoch: 2}); !errors.Is(err, cluster.ErrStale) {
			t.Fatalf("claim from the stale epoch 1: %v, want ErrStale", err)
		}
		// An epoch that does not grow by one is refused before the store is asked.
		if err := p1.CompareAndSwap(ctx, tenant, e2, cluster.Owner{Node: "n1", Epoch: 5}); err == nil || errors.Is(err, cluster.ErrStale) {
			t.Fatalf("claim skipping epochs: %v, want a refusal", err)
		}
		if got, err := p1.Refresh(ctx, tenant); err != nil || got != e2 {
			t.Fatalf("owner after the claims = %+v, %v; want %+v", got, err, e2)
		}
		waitFor(t, "placement seen by every watch", 2*time.Second, nodes[2].co.Placement().Changed, func() bool {
			got, err := nodes[2].co.Placement().Owner(ctx, tenant)
			return err == nil && got == e2
		})
	})

	t.Run("ForwardByPlacement", func(t *testing.T) {
		urls := map[string]*url.URL{}
		for _, tn := range nodes[:2] {
			id := tn.node.ID()
			srv := httptest.NewServer(cluster.NewForwarder(cluster.ForwarderConfig{
				Self:  id,
				Owner: cluster.RequestOwner(tn.co.Routes(), tn.co.Placement()),
				Addr: func(node string) (*url.URL, error) {
					if u, ok := urls[node]; ok {
						return u, nil
					}
					return nil, fmt.Errorf("node %s: %w", node, cluster.ErrNotFound)
				},
				Local: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "served by %s", id) }),
			}))
			t.Cleanup(srv.Close)
			u, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			urls[id] = u
		}
		if err := nodes[1].co.Routes().Put(ctx, cluster.RouteSlug, "studio", cluster.Route{TenantID: "studio1", Slug: "studio", Status: tenancy.TenantActive}); err != nil {
			t.Fatal(err)
		}
		if err := nodes[1].co.Placement().CompareAndSwap(ctx, "studio1", cluster.Owner{}, cluster.Owner{Node: "n2", Epoch: 1}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "route seen on n1", 2*time.Second, nodes[0].co.Routes().Changed, func() bool {
			_, err := nodes[0].co.Routes().Lookup(ctx, cluster.RouteSlug, "studio")
			return err == nil
		})
		for path, want := range map[string]string{
			"/studio/book":  "served by n2", // owned by n2: forwarded
			"/static/x.css": "served by n1", // no tenant
			"/nobody/book":  "served by n1", // no route: the local handler answers 404
		} {
			resp, err := http.Get(urls["n1"].String() + path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close() // read in full
			if err != nil || string(b) != want {
				t.Errorf("GET %s on n1 = %q, %v; want %q", path, b, err, want)
			}
		}
	})

	t.Run("StoppedNodeExpires", func(t *testing.T) {
		// Stop a node that leads no bucket, so the survivors' calls go on without waiting for
		// an election (elections take seconds and are tested by the failover work).
		observer := nodes[0]
		victim := quietNode(t, nodes, observer)
		want := []string{}
		for _, tn := range nodes {
			if tn != victim {
				want = append(want, tn.node.ID())
			}
		}
		stopped := time.Now()
		victim.node.Shutdown() // a crash, as far as the others can tell: no goodbye
		l := observer.co.Liveness()
		unknown := 0
		// The observer's watch may have been served by the stopped node: its view is unknown
		// until the watch is set up again elsewhere, which the stall check does within a
		// couple of heartbeats (without it, about half the runs took ~19 s).
		waitFor(t, victim.node.ID()+" expires", 4*testTTL, l.Changed, func() bool {
			ids, err := liveIDs(t, l)
			if errors.Is(err, cluster.ErrUnknown) {
				unknown++
			} else if err != nil {
				t.Fatalf("live nodes: %v, want a set or ErrUnknown", err)
			} else if slices.Contains(ids, victim.node.ID()) && time.Since(stopped) > 2*testTTL {
				t.Errorf("%s still live %s after it stopped", victim.node.ID(), time.Since(stopped))
			}
			return err == nil && slices.Equal(ids, want)
		})
		t.Logf("%s saw stopped %s expire after %s (TTL %s; its view was unknown at %d checks meanwhile)",
			observer.node.ID(), victim.node.ID(), time.Since(stopped).Round(time.Millisecond), testTTL, unknown)
		if since := time.Since(stopped); since < testTTL/2 {
			t.Errorf("%s expired after %s, before its TTL could run out", victim.node.ID(), since)
		}
		if a, err := l.Addr(victim.node.ID()); !errors.Is(err, cluster.ErrNotFound) {
			t.Errorf("address of %s, gone from a current view: %q, %v; want ErrNotFound", victim.node.ID(), a, err)
		}
		// The other buckets' watches recover as fast: a route put on a survivor reaches the
		// observer in milliseconds again.
		var other *testNode
		for _, tn := range nodes {
			if tn != victim && tn != observer {
				other = tn
			}
		}
		r := cluster.Route{TenantID: "after1", Slug: "after-stop", Status: tenancy.TenantActive}
		put := time.Now()
		if err := other.co.Routes().Put(ctx, cluster.RouteSlug, "after-stop", r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "route put after the stop seen", 2*time.Second, observer.co.Routes().Changed, func() bool {
			_, err := observer.co.Routes().Lookup(ctx, cluster.RouteSlug, "after-stop")
			return err == nil
		})
		t.Logf("a route put after the stop reached %s in %s", observer.node.ID(), time.Since(put).Round(time.Millisecond))
		victim.node = nil
		t.Run("LostQuorumIsUnknown", func(t *testing.T) { testLostQuorum(t, nodes, observer) })
	})
}

// A node cut off from the quorum cannot tell who is alive: its view of liveness turns unknown
// (never "the others are dead"), and a claim's outcome is unknown rather than stale or done.
func testLostQuorum(t *testing.T, nodes []*testNode, observer *testNode) {
	ctx := t.Context()
	var last *testNode
	for _, tn := range nodes {
		if tn != observer && tn.co != nil && tn.node != nil {
			if ids, err := liveIDs(t, observer.co.Liveness()); err == nil && slices.Contains(ids, tn.node.ID()) {
				last = tn
			}
		}
	}
	if last == nil {
		t.Fatal("no other live node to stop")
	}
	stopped := time.Now()
	last.node.Shutdown()
	l := observer.co.Liveness()
	waitFor(t, "liveness unknown without a quorum", 4*testTTL, l.Changed, func() bool {
		ids, err := liveIDs(t, l)
		if err == nil && !slices.Contains(ids, last.node.ID()) {
			t.Fatalf("a node cut off from the quorum sees %v: it declared %s dead", ids, last.node.ID())
		}
		return errors.Is(err, cluster.ErrUnknown)
	})
	t.Logf("%s's view turned unknown %s after it lost the quorum", observer.node.ID(), time.Since(stopped).Round(time.Millisecond))
	// The others' addresses are still known (every view turns unknown while the liveness
	// bucket elects a leader, and forwards to live owners must go on meanwhile).
	want := "http://node" + strings.TrimPrefix(last.node.ID(), "n") + ".invalid"
	if a, err := l.Addr(last.node.ID()); err != nil || a != want {
		t.Errorf("address of %s in an unknown view: %q, %v; want the last known %q", last.node.ID(), a, err, want)
	}
	if a, err := l.Addr("n9"); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("address of a node never seen: %q, %v; want ErrNotFound", a, err)
	}
	p := observer.co.Placement()
	begin := time.Now()
	// A read may still be answered by a leader that has not noticed it lost its quorum; it
	// must give up within the call timeout when it is not.
	if _, err := p.Refresh(ctx, "tenant42"); err != nil && !errors.Is(err, cluster.ErrUnknown) {
		t.Errorf("owner read without a quorum: %v, want an answer or ErrUnknown", err)
	}
	if err := p.CompareAndSwap(ctx, "tenant42", cluster.Owner{Node: "n2", Epoch: 2}, cluster.Owner{Node: observer.node.ID(), Epoch: 3}); !errors.Is(err, cluster.ErrUnknown) {
		t.Errorf("claim without a quorum: %v, want ErrUnknown", err)
	}
	if d := time.Since(begin); d > 3*cluster.DefaultCallTimeout {
		t.Errorf("two KV calls without a quorum took %s: they must give up within the call timeout", d)
	}
}

// quietNode returns a node other than keep, after gathering the leadership of JetStream's meta
// group and of every bucket's stream on keep, so that stopping it costs the others no election.
func quietNode(t *testing.T, nodes []*testNode, keep *testNode) *testNode {
	t.Helper()
	var victim *testNode
	for _, tn := range nodes {
		if tn != keep {
			victim = tn
		}
	}
	if victim == nil {
		t.Fatal("no node but keep")
	}
	gatherLeaders(t, victim, keep) // asked from another node, as the controller does
	return victim
}

// gatherLeaders moves every JetStream leadership to tn, asked by from, as the controller does.
func gatherLeaders(t *testing.T, from, tn *testNode) {
	t.Helper()
	leadsAll := func() bool {
		return tn.node.IsMetaLeader() && !slices.ContainsFunc(cluster.LeaderStreams, func(s string) bool { return !tn.node.IsStreamLeader(s) })
	}
	for deadline := time.Now().Add(20 * time.Second); !leadsAll(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not lead every JetStream group within 20 s", tn.node.ID())
		}
		if _, err := from.node.GatherLeaders(t.Context(), tn.node.ID(), cluster.LeaderStreams); err != nil {
			t.Logf("gather leaders on %s: %v", tn.node.ID(), err)
		}
	}
}
