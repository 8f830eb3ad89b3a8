package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

func TestServeClusterFlagsNeedEachOther(t *testing.T) {
	for _, args := range [][]string{
		{"--node-id", "n1"},
		{"--cluster-addr", "127.0.0.1:7000"},
		{"--peers", "127.0.0.1:7001"},
		{"--cluster"},
		{"--cluster", "--node-id", "n1"},
		{"--cluster", "--node-id", "n1", "--cluster-addr", "nohost"},
		{"--cluster", "--node-id", "n1", "--cluster-addr", "127.0.0.1:7000", "--peers", "127.0.0.1"},
		{"--cluster", "--node-id", "n1", "--cluster-addr", "127.0.0.1:7000"}, // no --replica
		{"--cluster", "--node-id", "n1", "--cluster-addr", "127.0.0.1:7000", "--replica", "file:///tmp/r", "--replica-ack", "async"},
	} {
		code, _, errOut := reserva(t, "", append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)...)
		if slices.Contains(args, "--cluster") && !slices.Contains(args, "--replica") && !strings.Contains(errOut, "--replica") &&
			len(args) == 5 {
			t.Errorf("serve %v: %q does not say --replica is missing", args, errOut)
		}
		if code != 2 || !strings.Contains(errOut, "usage: serve") {
			t.Errorf("serve %v: exit %d, %q; want a usage error", args, code, errOut)
		}
	}
}

// serve --cluster joins the cluster: its NATS server routes to the peers, and the shared
// liveness bucket shows the node with its HTTP address while it runs, and not once it stops.
func TestServeJoinsCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	addrs := make([]string, 2)
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
	peer, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "peer", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "peer")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Shutdown()

	base, errOut, stop := startServe(t, filepath.Join(t.TempDir(), "data"), "--replica", "file://"+t.TempDir(),
		"--cluster", "--node-id", "s1", "--cluster-addr", addrs[1], "--peers", addrs[0])

	// Requests are served at once, before the cluster has formed.
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
	// A new node makes no demo business of its own: every node would make one, each with its
	// own password, and the cluster keeps one registry, so all but one would be lost (and the
	// controller's, never shipped, answered 503 everywhere).
	if code, _, _ := httpGet(t, base+"/demo/"); code != http.StatusNotFound {
		t.Errorf("a new cluster node's /demo/: %d, want 404 (no demo in a cluster)", code)
	}

	nc, err := peer.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: "peer"}, Voters: 2})
	if err != nil {
		t.Fatalf("%v (serve: %s)", err, errOut.String())
	}
	defer func() { _ = co.Close() }() // the peer's own liveness; the node stops next anyway
	l := co.Liveness()
	live := func() []cluster.NodeInfo {
		nodes, err := l.Live(ctx)
		if err != nil && !errors.Is(err, cluster.ErrUnknown) {
			t.Fatal(err)
		}
		return nodes
	}
	await := func(what string, cond func([]cluster.NodeInfo) bool) {
		t.Helper()
		for {
			ch := l.Changed()
			if cond(live()) {
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("%s: %v (serve: %s)", what, ctx.Err(), errOut.String())
			}
		}
	}
	t.Logf("the peer's coordinator started %s after the test began", time.Since(begin).Round(time.Millisecond))
	await("serve's node live", func(nodes []cluster.NodeInfo) bool {
		i := slices.IndexFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s1" })
		return i >= 0 && nodes[i].HTTP == base && nodes[i].Schema > 0
	})
	t.Logf("serve's node live %s after the test began", time.Since(begin).Round(time.Millisecond))
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	// A clean stop removes the node's key: the others see it go without waiting for its TTL.
	stopped := time.Now()
	await("serve's node gone", func(nodes []cluster.NodeInfo) bool {
		return nodes != nil && !slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s1" })
	})
	t.Logf("serve's node gone %s after it stopped", time.Since(stopped).Round(time.Millisecond))
	if since := time.Since(stopped); since >= cluster.DefaultLivenessTTL {
		t.Errorf("the stopped node left the live set after %s, its TTL: it did not say goodbye", since)
	}
}

// freeAddrs returns n free loopback addresses.
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

// Two serve --cluster nodes (and a third NATS voter, the test's): each serves the businesses
// it owns, claiming one at its first request, and forwards the requests of the other's; a
// node that receives a forwarded request for a business it no longer owns answers 421.
func TestServeClusterForwardsToOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	addrs := freeAddrs(t, 3) // the test's voter, s1, s2
	peer, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "peer", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "peer")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Shutdown()
	// s1's data directory holds "demo", s2's "other", each made before the cluster formed.
	d1 := filepath.Join(t.TempDir(), "d1")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", d1, "--slug", "demo", "--name", "Demo"); code != 0 {
		t.Fatalf("tenants create: %d %s %s", code, out, errOut)
	}
	d2 := filepath.Join(t.TempDir(), "d2")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", d2, "--slug", "other", "--name", "Other"); code != 0 {
		t.Fatalf("tenants create: %d %s %s", code, out, errOut)
	}
	rep1 := t.TempDir()
	base1, err1, _ := startServe(t, d1, "--replica", "file://"+rep1,
		"--cluster", "--node-id", "s1", "--cluster-addr", addrs[1], "--peers", addrs[0]+","+addrs[2])
	rep2 := rep1 // one replica for the cluster: where a business lives when its owner is gone
	base2, err2, _ := startServe(t, d2, "--replica", "file://"+rep2,
		"--cluster", "--node-id", "s2", "--cluster-addr", addrs[2], "--peers", addrs[0]+","+addrs[1])
	logs := func() string { return "s1: " + err1.String() + "\ns2: " + err2.String() }

	nc, err := peer.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: "peer"}, Voters: 3})
	if err != nil {
		t.Fatalf("%v (%s)", err, logs())
	}
	defer func() { _ = co.Close() }()
	for {
		ch := co.Liveness().Changed()
		nodes, _ := co.Liveness().Live(ctx) // unknown: not yet
		if slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s1" }) &&
			slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s2" }) {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("nodes not live: %v (%s)", ctx.Err(), logs())
		}
	}

	// until asks url (with the header hdr set, when given) until it answers want, and returns
	// the node that served it. The nodes' views of the cluster's state follow the test's within
	// milliseconds: a few tries at most.
	until := func(url string, hdr [2]string, want int) string {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var last string
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if hdr[0] != "" {
				req.Header.Set(hdr[0], hdr[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_ = resp.Body.Close() // the status and header are the answer
				if resp.StatusCode == want {
					return resp.Header.Get(NodeHeader)
				}
				last = resp.Status
			} else {
				last = err.Error()
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("GET %s: %s, want %d (%s)", url, last, want, logs())
			}
		}
	}
	none := [2]string{}
	if n := until(base1+"/demo/", none, http.StatusOK); n != "s1" {
		t.Errorf("demo at s1 served by %q, want s1", n)
	}
	var rt cluster.Route
	for { // the test's view of the routes follows s1's put
		ch := co.Routes().Changed()
		if rt, err = co.Routes().Lookup(ctx, cluster.RouteSlug, "demo"); err == nil {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("demo's route after its first request: %v", err)
		}
	}
	own, err := co.Placement().Refresh(ctx, rt.TenantID)
	if err != nil || own != (cluster.Owner{Node: "s1", Epoch: 1}) {
		t.Fatalf("demo's owner after its first request: %+v, %v; want s1 in epoch 1", own, err)
	}
	if _, err := os.Stat(filepath.Join(rep1, filepath.FromSlash(replica.EpochMarker(rt.TenantID, 1)))); err != nil {
		t.Errorf("the claim of epoch 1 left no marker in the replica: %v", err)
	}
	if n := until(base2+"/demo/", none, http.StatusOK); n != "s1" {
		t.Errorf("demo at s2 served by %q, want s1 (forwarded)", n)
	}
	// A business only s2's copy of the registry holds (made there before it joined the
	// cluster, so the controller never published it) is claimed at its first request there,
	// which publishes its slug's route.
	if n := until(base2+"/other/", none, http.StatusOK); n != "s2" {
		t.Errorf("other at s2 served by %q, want s2", n)
	}
	if n := until(base1+"/other/", none, http.StatusOK); n != "s2" {
		t.Errorf("other at s1 served by %q, want s2", n)
	}
	// other, opened by s2 after its claim, ships into epoch 1's own chain.
	ort, err := co.Routes().Lookup(ctx, cluster.RouteSlug, "other")
	if err != nil {
		t.Fatalf("other's route: %v", err)
	}
	chain := filepath.Join(rep2, filepath.FromSlash(replica.TenantEpochName(ort.TenantID, 1)))
	for tick := time.NewTicker(50 * time.Millisecond); ; {
		if ents, _ := os.ReadDir(chain); len(ents) > 0 { // absent until the first sync
			tick.Stop()
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("nothing shipped under %s (%s)", chain, logs())
		}
	}

	// demo moves to s2 (as a claim would move it): s1 refuses what s2 forwards for it.
	if err := co.Placement().CompareAndSwap(ctx, rt.TenantID, own, cluster.Owner{Node: "s2", Epoch: 2}); err != nil {
		t.Fatal(err)
	}
	until(base1+"/demo/", [2]string{cluster.ForwardedHeader, "s2"}, http.StatusMisdirectedRequest)

	// demo's owner is now a node that is not live: the node the next request reaches (s1, or
	// s2 when s1's view of the owner is a moment old and it forwards there; s2 knows demo when
	// s1 is the controller) claims it (from the replica, epoch 4) and serves it.
	if err := co.Placement().CompareAndSwap(ctx, rt.TenantID, cluster.Owner{Node: "s2", Epoch: 2}, cluster.Owner{Node: "gone", Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	n := until(base1+"/demo/", none, http.StatusOK)
	if n != "s1" && n != "s2" {
		t.Errorf("demo after its owner left served by %q, want s1 or s2", n)
	}
	if own, err := co.Placement().Refresh(ctx, rt.TenantID); err != nil || own != (cluster.Owner{Node: n, Epoch: 4}) {
		t.Errorf("demo's owner after the claim: %+v, %v; want %s in epoch 4", own, err, n)
	}
}

// The write rule: once the replica holds a write, the owner of epoch e acknowledges it only
// while the marker of e+1 is absent from the store; once a successor has created it the node
// is fenced, for good, even for an epoch it might claim again later in this run.
func TestWriteFence(t *testing.T) {
	ctx := t.Context()
	rep, err := replica.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rep.Close(context.Background()) }() // nothing attached
	const id = "fencetenantaaaaaaaaaaaaaaa"
	m := &clusterMember{self: cluster.NodeInfo{ID: "s1"}, rep: rep, log: slog.New(slog.DiscardHandler),
		held: map[string]uint64{id: 3}, fenced: map[string]bool{}}
	if err := m.writeFence(ctx, id); err != nil {
		t.Fatalf("owner of epoch 3, no successor: %v", err)
	}
	if err := m.writeFence(ctx, "othertenantaaaaaaaaaaaaaaa"); err == nil {
		t.Error("a business this node holds no epoch of was acknowledged")
	}
	if err := rep.CreateMarker(ctx, replica.EpochMarker(id, 4)); err != nil {
		t.Fatal(err)
	}
	if err := m.writeFence(ctx, id); !errors.Is(err, errFenced) {
		t.Fatalf("after a successor claimed epoch 4: %v, want errFenced", err)
	}
	m.mu.Lock()
	m.held[id] = 9 // as if claimed again: still fenced in this run
	m.mu.Unlock()
	if err := m.writeFence(ctx, id); !errors.Is(err, errFenced) {
		t.Errorf("a fenced business acknowledged again: %v", err)
	}
}

// A business this node holds in epoch e ships into that epoch's chain; the registry, and a
// business opened before its claim, keep their names.
func TestReplicaNameFollowsEpoch(t *testing.T) {
	ctx := t.Context()
	rep, err := replica.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rep.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	const id = "epochnameaaaaaaaaaaaaaaaaa"
	m := &clusterMember{held: map[string]uint64{id: 2}, fenced: map[string]bool{}}
	for name, want := range map[string]string{
		replica.TenantName(id):                           replica.TenantEpochName(id, 2),
		replica.TenantName("unclaimedaaaaaaaaaaaaaaaaa"): replica.TenantName("unclaimedaaaaaaaaaaaaaaaaa"),
		replica.RegistryName:                             replica.RegistryName,
	} {
		if got := m.replicaName(name); got != want {
			t.Errorf("replicaName(%s) = %s, want %s", name, got, want)
		}
	}
	p := filepath.Join(t.TempDir(), id+".db")
	db, err := sql.Open("sqlite3", "file:"+p+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // the test's writes are done
	if _, err := db.Exec(`CREATE TABLE t(x)`); err != nil {
		t.Fatal(err)
	}
	h, err := replicawire.Renamed(rep, true, m.replicaName).Attach(ctx, replica.TenantName(id), p)
	if err != nil {
		t.Fatal(err)
	}
	if name := h.(*replica.Handle).Name(); name != "tenants/"+id+"/ltx/e2" {
		t.Errorf("attached as %s, want tenants/%s/ltx/e2", name, id)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A node that claimed epoch 2 and finds the business's file missing restores it from the newest
// epoch that holds a copy: epoch 2 is empty (just claimed), epoch 1 holds the writes of the
// previous owner, epoch 0 only older ones.
func TestRestoreMissingWalksEpochs(t *testing.T) {
	ctx := t.Context()
	rep, err := replica.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rep.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	const id = "restoreepochaaaaaaaaaaaaaa"
	dir := t.TempDir()
	ship := func(epoch uint64, rows ...string) {
		t.Helper()
		p := filepath.Join(dir, fmt.Sprintf("e%d.db", epoch))
		db, err := sql.Open("sqlite3", "file:"+p+"?_pragma=journal_mode(wal)")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }() // shipped by the handle's close below
		if _, err := db.Exec(`CREATE TABLE notes(body TEXT)`); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if _, err := db.Exec(`INSERT INTO notes VALUES (?)`, r); err != nil {
				t.Fatal(err)
			}
		}
		h, err := rep.Attach(ctx, replica.TenantEpochName(id, epoch), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m := &clusterMember{rep: rep, log: slog.New(slog.DiscardHandler), held: map[string]uint64{id: 2}, fenced: map[string]bool{}}
	tn := tenancy.Tenant{ID: id, Slug: "walk"}
	if err := m.restoreMissing(ctx, tn, filepath.Join(dir, "none.db")); !errors.Is(err, tenancy.ErrNoReplicaCopy) {
		t.Fatalf("no copy in any epoch: %v, want ErrNoReplicaCopy", err)
	}
	ship(0, "old")
	ship(1, "old", "acknowledged by the previous owner")
	dst := filepath.Join(dir, "restored.db")
	if err := m.restoreMissing(ctx, tn, dst); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("restored %d notes, want epoch 1's 2", n)
	}
}

// The claim rule for a business whose owner is gone: the placement moves to this node in the
// next epoch, whose marker is created in the store; the stale local copy is dropped and the
// business restored from the newest epoch holding a copy (the dead owner's, with a write this
// node's file never had), attached to the new epoch's chain and synced before it is served.
func TestClaimFromDeadOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	repDir := t.TempDir()
	repURL := "file://" + filepath.ToSlash(repDir)
	data := filepath.Join(t.TempDir(), "data")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--replica", repURL); code != 0 {
		t.Fatalf("tenants create: %d %s %s", code, out, errOut)
	}
	addrs := freeAddrs(t, 2) // s1's NATS server and a second voter's
	other, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "voter", ClusterAddr: addrs[1], Peers: addrs[:1],
		StoreDir: filepath.Join(t.TempDir(), "voter")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	node, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "s1", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "s1")})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown()
	nc, err := node.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: "s1"}, Voters: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = co.Close() }()
	m := &clusterMember{self: cluster.NodeInfo{ID: "s1"}, log: slog.New(slog.DiscardHandler), co: co,
		held: map[string]uint64{}, fenced: map[string]bool{}}
	var stderr syncBuffer
	p, err := openPlatform(ctx, config{data: data, replica: repURL, replicaAck: "sync", replicaAttach: true,
		writeFence: m.writeFence, replicaName: m.replicaName, restoreMissing: m.restoreMissing}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.close() }()
	m.rep, m.tenants, m.self.Schema = p.replica, p.tenants, p.tenants.LatestVersion()
	tn, _, err := p.tenants.Resolve(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	// The dead owner "ghost" held epoch 1 and shipped a write this node's file lacks.
	local, err := p.tenants.Path(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	ghost := filepath.Join(t.TempDir(), "ghost.db")
	src, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ghost, src, 0o600); err != nil {
		t.Fatal(err)
	}
	gdb, err := sql.Open("sqlite3", "file:"+ghost+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gdb.Exec(`INSERT INTO sessions(token, data, expiry) VALUES ('ghost', x'00', 9e9)`); err != nil {
		t.Fatal(err)
	}
	h, err := p.replica.Attach(ctx, replica.TenantEpochName(tn.ID, 1), ghost)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = gdb.Close() // shipped
	if err := co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{}, cluster.Owner{Node: "ghost", Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	// Only once this node's own heartbeat is in its view may it take the owner's absence as death.
	for {
		ch := co.Liveness().Changed()
		if _, err := co.Liveness().Live(ctx); err == nil {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("this node's liveness never showed")
		}
	}

	if m.owns(ctx, tn.ID) {
		t.Error("jobs: this node owns the business before claiming it")
	}
	if err := m.fence(ctx, tn); err != nil {
		t.Fatalf("claim from the dead owner: %v (%s)", err, stderr.String())
	}
	if !m.owns(ctx, tn.ID) {
		t.Error("jobs: this node does not own the business it claimed")
	}
	if own, err := co.Placement().Refresh(ctx, tn.ID); err != nil || own != (cluster.Owner{Node: "s1", Epoch: 2}) {
		t.Errorf("owner after the claim: %+v, %v; want s1 in epoch 2", own, err)
	}
	if ok, err := p.replica.MarkerExists(ctx, replica.EpochMarker(tn.ID, 2)); err != nil || !ok {
		t.Errorf("marker of epoch 2: %v, %v", ok, err)
	}
	l, err := p.tenants.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE token = 'ghost'`).Scan(&n)
	l.Release()
	if err != nil || n != 1 {
		t.Errorf("the dead owner's write after the claim: %d rows, %v; want it restored", n, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(repDir, filepath.FromSlash(replica.TenantEpochName(tn.ID, 2)))); len(ents) == 0 {
		t.Error("nothing shipped into epoch 2's chain before serving")
	}
	// Claimed away by another node: its jobs are that node's from now on.
	if err := co.Placement().CompareAndSwap(ctx, tn.ID, cluster.Owner{Node: "s1", Epoch: 2}, cluster.Owner{Node: "s2", Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	for { // the watched view follows the store within milliseconds
		ch := co.Placement().Changed()
		if own, err := co.Placement().Owner(ctx, tn.ID); err == nil && own.Node == "s2" {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the view never showed s2 as the owner")
		}
	}
	if m.owns(ctx, tn.ID) {
		t.Error("jobs: this node still owns the business placement gave to s2")
	}
}

// Rolling upgrade: a node never serves (nor claims) a business whose schema is newer than its
// binary knows; its requests go to a live node that knows the schema, the same one from
// every node.
func TestFenceRefusesNewerSchema(t *testing.T) {
	m := &clusterMember{self: cluster.NodeInfo{ID: "old", Schema: 5}, log: slog.New(slog.DiscardHandler),
		held: map[string]uint64{}, fenced: map[string]bool{}}
	err := m.fence(t.Context(), tenancy.Tenant{ID: "newschemaaaaaaaaaaaaaaaaaa", Slug: "newer", SchemaVersion: 6})
	if !errors.Is(err, errSchemaTooNew) || !strings.Contains(err.Error(), "older Reserva") {
		t.Fatalf("a business at schema 6 on a node of schema 5: %v, want errSchemaTooNew", err)
	}
	if err := m.fence(t.Context(), tenancy.Tenant{ID: "sameschemaaaaaaaaaaaaaaaaa", Slug: "same", SchemaVersion: 5}); errors.Is(err, errSchemaTooNew) {
		t.Errorf("a business at the node's own schema: %v", err)
	}
	live := []cluster.NodeInfo{{ID: "old", HTTP: "http://10.0.0.1:8080", Schema: 5},
		{ID: "new1", HTTP: "http://10.0.0.2:8080", Schema: 6}, {ID: "new2", HTTP: "http://10.0.0.3:8080", Schema: 7}}
	for i := range 50 {
		id := fmt.Sprintf("tenant%02daaaaaaaaaaaaaaaaaa", i)
		got := nodeForSchema(id, 6, live)
		if got != "new1" && got != "new2" {
			t.Fatalf("business %s at schema 6 sent to %q", id, got)
		}
		if again := nodeForSchema(id, 6, []cluster.NodeInfo{live[2], live[0], live[1]}); again != got {
			t.Errorf("business %s: %s, then %s with the nodes in another order", id, got, again)
		}
	}
	if got := nodeForSchema("x", 8, live); got != "" {
		t.Errorf("no node knows schema 8, yet %q was picked", got)
	}
}

// JetStream's leaders stay on the node that leads while it may, and otherwise go to the candidate
// holding the fewest businesses: its loss then affects the fewest.
func TestLeaderHomesOf(t *testing.T) {
	for _, c := range []struct {
		held map[string]int
		cur  string
		want []string
	}{
		{map[string]int{"n2": 0, "n3": 0}, "", []string{"n2", "n3"}},                  // a new cluster: by id
		{map[string]int{"n2": 9, "n3": 4}, "n1", []string{"n3", "n2"}},                // led by the controller: move
		{map[string]int{"n2": 40, "n3": 4}, "n2", []string{"n2", "n3"}},               // led by a candidate: stay
		{map[string]int{"n2": 7, "n3": 0, "n4": 8}, "n5", []string{"n3", "n2", "n4"}}, // n5 lost: fewest first
		{map[string]int{}, "n2", nil},
	} {
		got := leaderHomesOf(c.held, c.cur)
		if !slices.Equal(got, c.want) {
			t.Errorf("leaderHomesOf(%v, %q) = %v, want %v", c.held, c.cur, got, c.want)
		}
	}
}
