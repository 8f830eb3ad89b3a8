package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// testCluster is three serve --cluster nodes sharing one replica, and the test's own NATS
// voter with a coordinator to watch the cluster's state.
type testCluster struct {
	t      *testing.T
	ctx    context.Context
	repDir string
	addrs  []string // the cluster addresses: the test's voter, then the nodes'
	co     *cluster.NATSCoordinator
	base   map[string]string
	data   map[string]string // each node's data directory
	stop   map[string]func() int
	logs   map[string]*syncBuffer
	// client keeps cookies (a business's session, whichever node answered) and never
	// follows redirects.
	client *http.Client
}

func startTestCluster(t *testing.T, ctx context.Context, ids ...string) *testCluster {
	t.Helper()
	addrs := freeAddrs(t, 1+len(ids))
	peer, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "peer", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "peer")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Shutdown)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{t: t, ctx: ctx, repDir: t.TempDir(), addrs: addrs, base: map[string]string{}, data: map[string]string{}, stop: map[string]func() int{},
		logs: map[string]*syncBuffer{}, client: &http.Client{Jar: jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for i, id := range ids {
		peers := slices.Delete(slices.Clone(addrs), i+1, i+2)
		tc.data[id] = filepath.Join(t.TempDir(), id)
		tc.base[id], tc.logs[id], tc.stop[id] = startServe(t, tc.data[id], "--replica", "file://"+tc.repDir,
			"--cluster", "--node-id", id, "--cluster-addr", addrs[i+1], "--peers", strings.Join(peers, ","))
	}
	nc, err := peer.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if tc.co, err = cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: "peer"}, Voters: 1 + len(ids)}); err != nil {
		t.Fatalf("%v (%s)", err, tc.logText())
	}
	t.Cleanup(func() { _ = tc.co.Close() })
	tc.await("every node live", tc.co.Liveness().Changed, func() bool {
		nodes, _ := tc.co.Liveness().Live(ctx) // unknown: not yet
		for _, id := range ids {
			if !slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == id }) {
				return false
			}
		}
		return true
	})
	for _, id := range ids { // each has joined (its own view may lag a moment: see signUp)
		tc.await(id+" joined", func() <-chan struct{} { return nil }, func() bool {
			return strings.Contains(tc.logs[id].String(), `msg="joined the cluster"`)
		})
	}
	// And each sees every node serving (its /metrics), so that they all place a sign-up alike.
	serving := regexp.MustCompile(`(?m)^reserva_cluster_nodes_serving ` + strconv.Itoa(len(ids)) + `$`)
	for _, id := range ids {
		tc.await(id+" sees every node", func() <-chan struct{} { return nil }, func() bool {
			_, body, _ := tc.do(http.MethodGet, tc.base[id]+"/metrics", nil)
			return serving.MatchString(body)
		})
	}
	return tc
}

func (tc *testCluster) logText() string {
	var b strings.Builder
	for id, l := range tc.logs {
		b.WriteString(id + ": " + l.String() + "\n")
	}
	return b.String()
}

// await waits until cond holds, checking at each change signalled by changed and every 50 ms.
func (tc *testCluster) await(what string, changed func() <-chan struct{}, cond func() bool) {
	tc.t.Helper()
	awaitCond(tc.t, tc.ctx, what, changed, cond, tc.logText)
}

// awaitCond waits until cond holds, checking at each change signalled by changed and every
// 50 ms; when ctx ends first the test fails with what, and the text of logs when given.
func awaitCond(t *testing.T, ctx context.Context, what string, changed func() <-chan struct{}, cond func() bool, logs func() string) {
	t.Helper()
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
		case <-ctx.Done():
			if logs != nil {
				t.Fatalf("%s: %v\n%s", what, ctx.Err(), logs())
			}
			t.Fatalf("%s: %v", what, ctx.Err())
		}
	}
}

// controller waits for a controller other than not, and returns it.
func (tc *testCluster) controller(not cluster.Owner) cluster.Owner {
	tc.t.Helper()
	var c cluster.Owner
	tc.await("a controller", tc.co.Controller().Changed, func() bool {
		var err error
		c, err = tc.co.Controller().Current(tc.ctx)
		return err == nil && c != not && c.Epoch > not.Epoch
	})
	return c
}

// do sends a request (never following redirects) and returns its status, body and the node
// that served it.
func (tc *testCluster) do(method, url string, form url.Values) (int, string, string) {
	tc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(tc.ctx, method, url, body)
	if err != nil {
		tc.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := tc.client.Do(req)
	if err != nil {
		tc.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get(NodeHeader)
}

// signUp posts the sign-up of slug to node, again while the answer is 503 (the request did
// not reach the controller: none known yet, or the view of it is a moment old, as a client
// would retry), and returns the last answer.
func (tc *testCluster) signUp(node, slug string) (int, string, string) {
	tc.t.Helper()
	return tc.signUpWith(node, signUpForm(slug))
}

// signUpWith is signUp with the form as given.
func (tc *testCluster) signUpWith(node string, form url.Values) (int, string, string) {
	tc.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body, served := tc.do(http.MethodPost, tc.base[node]+"/signup", form)
		if code != http.StatusServiceUnavailable {
			return code, body, served
		}
		select {
		case <-tick.C:
		case <-tc.ctx.Done():
			tc.t.Fatalf("sign-up of %s at %s: 503 until %v\n%s", form.Get("slug"), node, tc.ctx.Err(), tc.logText())
		}
	}
}

// until asks url until it answers want, and returns the node that served it.
func (tc *testCluster) until(url string, want int) string {
	tc.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last int
	for {
		code, _, node := tc.do(http.MethodGet, url, nil)
		if code == want {
			return node
		}
		last = code
		select {
		case <-tick.C:
		case <-tc.ctx.Done():
			tc.t.Fatalf("GET %s: %d, want %d\n%s", url, last, want, tc.logText())
		}
	}
}

// registryChains returns the names under the replica's registry/ltx: e<N> for the chain of
// controller epoch N, digits for the levels of epoch 0's (a single node's) chain.
func (tc *testCluster) registryChains() []string {
	ents, err := os.ReadDir(filepath.Join(tc.repDir, "registry", "ltx"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		tc.t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// placedOn is the node a sign-up of slug goes to in the cluster's live set now.
func (tc *testCluster) placedOn(slug string) string {
	tc.t.Helper()
	live, err := tc.co.Liveness().Live(tc.ctx)
	if err != nil {
		tc.t.Fatal(err)
	}
	return signupTarget(slug, 0, live)
}

func signUpForm(slug string) url.Values {
	return url.Values{"name": {"Business " + slug}, "slug": {slug}, "timezone": {"Europe/Madrid"},
		"email": {"owner@" + slug + ".example"}, "password": {"correct horse battery staple"}}
}

// One registry for the cluster: a sign-up sent to any node is registered by the controller and
// the new business, owned by the node that took the sign-up, is found on every node; only the
// controller replicates the registry, into its own epoch's chain. When the controller leaves,
// another takes office in the next epoch with every business the first registered.
func TestClusterOneRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	ids := []string{"s1", "s2", "s3"}
	tc := startTestCluster(t, ctx, ids...)
	first := tc.controller(cluster.Owner{})
	var others []string
	for _, id := range ids {
		if id != first.Node {
			others = append(others, id)
		}
	}
	b, d := others[0], others[1]

	owner := tc.placedOn("newbiz")
	code, body, node := tc.signUp(b, "newbiz")
	if code != http.StatusSeeOther || node != owner {
		t.Fatalf("sign-up at %s: %d served by %q, want 303 by %s (placement): %s\n%s", b, code, node, owner, body, tc.logText())
	}
	// The business is found on another node within moments (it claims it at its first request).
	tc.until(tc.base[d]+"/newbiz/", http.StatusOK)
	tc.until(tc.base[b]+"/newbiz/", http.StatusOK)
	// The node that created it owns it; a write to it through another node: the owner signs
	// in (a new session in the business's database, acknowledged by its owner under the write
	// rule).
	if code, body, node := tc.do(http.MethodPost, tc.base[d]+"/newbiz/admin/login",
		url.Values{"email": {"owner@newbiz.example"}, "password": {"correct horse battery staple"}}); code != http.StatusSeeOther || node != owner {
		t.Errorf("sign-in at %s: %d served by %q, want 303 by its owner %s: %s", d, code, node, owner, body)
	}
	// The sign-up was taken at the controller: its slug is taken wherever one asks.
	if code, body, _ := tc.signUp(d, "newbiz"); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "taken") {
		t.Errorf("the same slug again at %s: %d, want 422 taken", d, code)
	}

	// Deleted by its owner on a node that is not the controller: gone from every node, its
	// slug held back by the controller's registry.
	goneOwner := tc.placedOn("gone")
	if code, body, node := tc.signUp(d, "gone"); code != http.StatusSeeOther || node != goneOwner {
		t.Fatalf("sign-up at %s: %d at %q, want %s: %s", d, code, node, goneOwner, body)
	}
	if node := tc.until(tc.base[b]+"/gone/", http.StatusOK); node != goneOwner {
		t.Fatalf("gone at %s served by %s, want its owner %s", b, node, goneOwner)
	}
	code, body, node = tc.do(http.MethodPost, tc.base[d]+"/gone/admin/delete", url.Values{"confirm": {"gone"}})
	if code >= 400 || node != goneOwner {
		t.Fatalf("delete gone at %s: %d served by %q, want its owner %s: %s\n%s", d, code, node, goneOwner, body, tc.logText())
	}
	tc.until(tc.base[d]+"/gone/", http.StatusNotFound)
	tc.until(tc.base[first.Node]+"/gone/", http.StatusNotFound)
	if code, body, _ := tc.signUp(d, "gone"); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "taken") {
		t.Errorf("a deleted business's slug at once: %d, want 422 taken", code)
	}

	// One writer per epoch: only the controller's chain, none of epoch 0 (every node shipping
	// its own registry under one name).
	if chains := tc.registryChains(); !slices.Equal(chains, []string{"e1"}) {
		t.Errorf("registry chains in the replica: %v, want only e1 (the first controller's)", chains)
	}

	// The controller leaves; another takes office in the next epoch, from the replica.
	if code := tc.stop[first.Node](); code != 0 {
		t.Fatalf("%s exited %d: %s", first.Node, code, tc.logs[first.Node].String())
	}
	second := tc.controller(first)
	if second.Epoch != first.Epoch+1 || second.Node == first.Node {
		t.Fatalf("controller after %+v left: %+v", first, second)
	}
	tc.await("the second controller in office", func() <-chan struct{} { return make(chan struct{}) }, func() bool {
		return regexp.MustCompile(`this node is the cluster controller.*epoch=2`).MatchString(tc.logs[second.Node].String())
	})
	if code, body, node := tc.signUp(b, "newbiz"); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "taken") || node == first.Node {
		t.Errorf("newbiz again after the controller changed: %d at %q, want 422 taken on a live node\n%s", code, node, tc.logText())
	}
	if code, body, node := tc.signUp(b, "later"); code != http.StatusSeeOther || node == first.Node {
		t.Fatalf("sign-up after the controller changed: %d at %q: %s\n%s", code, node, body, tc.logText())
	}
	tc.until(tc.base[d]+"/later/", http.StatusOK)
	// newbiz is served by a live node: its owner, or, when that was the first controller, the
	// node a request reaches, which claims it from the replica.
	if node := tc.until(tc.base[b]+"/newbiz/", http.StatusOK); node == first.Node {
		t.Errorf("newbiz served by %s, which stopped", node)
	}
	if chains := tc.registryChains(); !slices.Equal(chains, []string{"e1", "e2"}) {
		t.Errorf("registry chains in the replica: %v, want e1 and e2", chains)
	}
}

// The registry's write rule: the controller of epoch e ships the registry into e's own chain,
// and a sync (the one before a registry write is acknowledged) fails once the marker of e+1
// exists, and the node stops taking registry writes. A successor restores from the newest
// epoch that holds a copy, walking back over one whose controller died before its first sync.
func TestRegistryFenceAndWalkBack(t *testing.T) {
	ctx := t.Context()
	repDir := t.TempDir()
	rep, err := replica.Open(ctx, "file://"+filepath.ToSlash(repDir), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rep.Close(context.Background()) }() // detached below
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(t.TempDir(), "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Close() }() // detached below
	m := &clusterMember{rep: rep, reg: reg, log: slog.New(slog.DiscardHandler), term: 3}
	if err := rep.CreateMarker(ctx, replica.Marker(replica.RegistryName, 3)); err != nil {
		t.Fatal(err)
	}
	if err := reg.Replicate(ctx, registryReplicator{m: m, epoch: 3}); err != nil {
		t.Fatal(err)
	}
	add := func(slug string) error {
		t.Helper()
		rep := m.commitRegistry(ctx, registryOp{Op: opCreate, Tenant: &tenancy.Tenant{ID: slug + strings.Repeat("a", 26-len(slug)),
			Slug: slug, Name: slug, Timezone: "UTC", Status: tenancy.TenantActive, MigrationStatus: tenancy.MigrationOK, CreatedAt: time.Now()}})
		return rep.error()
	}
	if err := add("kept"); err != nil {
		t.Fatalf("a write of the controller of epoch 3: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(repDir, "registry", "ltx", "e3")); len(ents) == 0 {
		t.Fatal("nothing shipped into epoch 3's chain")
	}
	// A successor claims epoch 4 (and will restore from epoch 3, as the replica holds it now).
	if err := rep.CreateMarker(ctx, replica.Marker(replica.RegistryName, 4)); err != nil {
		t.Fatal(err)
	}
	if err := add("late"); err == nil || !strings.Contains(err.Error(), errRegistryFenced.Error()) {
		t.Fatalf("a write after epoch 4 was claimed: %v, want fenced", err)
	}
	if m.leading() != 0 {
		t.Error("a fenced controller still takes registry writes")
	}
	if err := reg.StopReplicating(ctx); err != nil {
		t.Fatal(err)
	}
	// Epoch 4's controller died before its first sync: its chain is empty. Epoch 5's walks
	// back to epoch 3.
	dst := filepath.Join(t.TempDir(), "restored.db")
	from, err := rep.RestoreLatestEpoch(ctx, replica.RegistryName, 4, dst)
	if err != nil || from != 3 {
		t.Fatalf("restored from epoch %d, %v; want 3", from, err)
	}
	got, err := tenancy.OpenRegistry(ctx, dst, tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = got.Close() }() // read only
	if _, err := got.BySlug(ctx, "kept"); err != nil {
		t.Errorf("the acknowledged write after the walk back: %v", err)
	}
	if _, err := rep.RestoreLatestEpoch(ctx, replica.RegistryName, 2, filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, replica.ErrNotFound) {
		t.Errorf("no copy in epochs 2 to 0: %v, want ErrNotFound", err)
	}
}

// Registry writes from a node that is not the controller (rename, custom hosts, a taken
// slug, delete) are applied at the controller, visible at once on the node that made them,
// and reach the route map; a change another process makes to the controller's registry (the
// CLI on its data directory) is published too.
// registryPair starts two members sharing one replica, n1 the controller, with acme in its
// registry, each following the registry; await waits for a condition until ctx ends.
func registryPair(t *testing.T, ctx context.Context) (ctrl, other *clusterMember, cos []*cluster.NATSCoordinator, await func(string, func() bool)) {
	t.Helper()
	addrs := freeAddrs(t, 2)
	rep, err := replica.Open(ctx, "file://"+filepath.ToSlash(t.TempDir()), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep.Close(context.Background()) }) // detached by resign below
	log := slog.New(slog.DiscardHandler)
	members := make([]*clusterMember, 2)
	cos = make([]*cluster.NATSCoordinator, 2)
	errc := make(chan error, 2)
	for i, id := range []string{"n1", "n2"} {
		node, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: id, ClusterAddr: addrs[i], Peers: []string{addrs[1-i]},
			StoreDir: filepath.Join(t.TempDir(), id)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(node.Shutdown)
		nc, err := node.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		dir := t.TempDir()
		reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close() }) // after the member stops
		members[i] = &clusterMember{self: cluster.NodeInfo{ID: id}, rep: rep, reg: reg, dataDir: dir, nc: nc, log: log,
			held: map[string]uint64{}, fenced: map[string]bool{}, applied: map[string]tenancy.TenantRecord{}}
		go func() {
			var err error
			cos[i], err = cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: id}, Voters: 2})
			errc <- err
		}()
	}
	for range cos {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range members {
		m.co = cos[i]
		t.Cleanup(func() { _ = cos[i].Close() })
	}
	ctrl, other = members[0], members[1]
	if err := ctrl.reg.Create(ctx, tenancy.Tenant{ID: pairTenant, Slug: "acme", Name: "Acme", Timezone: "UTC", Status: tenancy.TenantActive,
		MigrationStatus: tenancy.MigrationOK, CreatedAt: time.Now()}, false); err != nil {
		t.Fatal(err)
	}
	term := cluster.Owner{Node: "n1", Epoch: 1}
	if err := cos[0].Controller().CompareAndSwap(ctx, cluster.Owner{}, term); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.lead(ctx, cos[0], term); err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait(); ctrl.resign(term) })
	for i, m := range members {
		wg.Go(func() { m.followRegistry(fctx, cos[i]) })
	}
	await = func(what string, cond func() bool) {
		t.Helper()
		for tick := time.NewTicker(20 * time.Millisecond); !cond(); {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%s: %v", what, ctx.Err())
			}
		}
	}
	return ctrl, other, cos, await
}

// pairTenant is acme's id in registryPair.
const pairTenant = "acmeaaaaaaaaaaaaaaaaaaaaaa"

func TestRegistryWritesFromAnyNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ctrl, other, cos, await := registryPair(t, ctx)
	const id = pairTenant
	await("acme in the other node's copy", func() bool { _, err := other.reg.BySlug(ctx, "acme"); return err == nil })

	if err := other.registryWrite(ctx, registryOp{Op: opRename, ID: id, Slug: "acme-new"}); err != nil {
		t.Fatal(err)
	}
	if to, err := other.reg.Redirect(ctx, "acme"); err != nil || to != "acme-new" {
		t.Errorf("the renaming node's copy at once: acme redirects to %q, %v", to, err)
	}
	if got, err := ctrl.reg.BySlug(ctx, "acme-new"); err != nil || got.ID != id {
		t.Errorf("the controller's registry after the rename: %+v, %v", got, err)
	}
	await("the rename in the route map", func() bool {
		rt, err := cos[1].Routes().Lookup(ctx, cluster.RouteSlug, "acme")
		return err == nil && rt.TenantID == id && rt.Slug == "acme-new"
	})
	if err := other.registryWrite(ctx, registryOp{Op: opSetHost, ID: id, Host: "book.acme.example"}); err != nil {
		t.Fatal(err)
	}
	await("the host in the route map", func() bool {
		rt, err := cos[1].Routes().Lookup(ctx, cluster.RouteHost, "book.acme.example")
		return err == nil && rt.TenantID == id
	})
	err := other.registryWrite(ctx, registryOp{Op: opCreate, Tenant: &tenancy.Tenant{ID: "otheraaaaaaaaaaaaaaaaaaaaa", Slug: "acme-new",
		Name: "Other", Timezone: "UTC", Status: tenancy.TenantActive, MigrationStatus: tenancy.MigrationOK, CreatedAt: time.Now()}})
	if !errors.Is(err, tenancy.ErrSlugTaken) {
		t.Errorf("a sign-up of a taken slug from the other node: %v, want ErrSlugTaken", err)
	}

	// The controller applies only what a Manager would have let through.
	if err := other.registryWrite(ctx, registryOp{Op: opRename, ID: id, Slug: "../etc"}); err == nil {
		t.Error("a rename to ../etc sent to the controller was applied")
	}
	if got, err := ctrl.reg.Get(ctx, id); err != nil || got.Slug != "acme-new" {
		t.Errorf("after a refused rename: %+v, %v", got, err)
	}

	// Another process removes the host in the controller's registry.
	if err := ctrl.reg.RemoveHost(ctx, "book.acme.example", id); err != nil {
		t.Fatal(err)
	}
	await("the host removed by another process gone from the other node", func() bool {
		_, err := other.reg.ByHost(ctx, "book.acme.example")
		return errors.Is(err, tenancy.ErrNotFound)
	})

	if err := other.registryWrite(ctx, registryOp{Op: opDelete, ID: id}); err != nil {
		t.Fatal(err)
	}
	for name, reg := range map[string]*tenancy.SQLiteRegistry{"controller": ctrl.reg, "other": other.reg} {
		if _, err := reg.Get(ctx, id); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("deleted tenant in the %s's registry: %v", name, err)
		}
	}
	await("the deleted tenant's routes gone", func() bool {
		_, err := cos[1].Routes().Lookup(ctx, cluster.RouteSlug, "acme-new")
		recs, rerr := cos[1].Routes().Records(ctx)
		_, still := recs[id]
		return errors.Is(err, cluster.ErrNotFound) && rerr == nil && !still
	})
}

// A business's backups and daily counts are written by whichever node owns it at the time: they
// are kept in the controller's registry (replicated, restored by the next controller), and read
// from there, so that the next owner after a failover or a move lists, restores and prunes the
// backups its predecessor made. They used to stay in the writing node's copy of the registry.
func TestBackupRecordsAtTheController(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ctrl, other, _, await := registryPair(t, ctx)
	await("acme in the other node's copy", func() bool { _, err := other.reg.BySlug(ctx, "acme"); return err == nil })
	onCtrl := clusterRegistry{SQLiteRegistry: ctrl.reg, member: func() *clusterMember { return ctrl }}
	onOther := clusterRegistry{SQLiteRegistry: other.reg, member: func() *clusterMember { return other }}
	ids := func(list []tenancy.Backup, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		var s []string
		for _, b := range list {
			s = append(s, b.ID)
		}
		return strings.Join(s, ",")
	}
	made := time.Now().UTC().Truncate(time.Second)
	backup := func(id string, age time.Duration) tenancy.Backup {
		return tenancy.Backup{ID: id, TenantID: pairTenant, Key: "backups/" + pairTenant + "/" + id + ".db.gz", SchemaVersion: 3,
			SizeBytes: 4096, SHA256: strings.Repeat("ab", 32), CreatedAt: made.Add(-age)}
	}
	// The business's owner was the controller's node; then the other node made one.
	if err := onCtrl.AddBackup(ctx, backup("old", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := onOther.AddBackup(ctx, backup("new", 0)); err != nil {
		t.Fatal(err)
	}
	if got := ids(ctrl.reg.Backups(ctx, pairTenant)); got != "new,old" {
		t.Errorf("backups in the controller's registry: %s, want new,old", got)
	}
	for name, r := range map[string]clusterRegistry{"controller": onCtrl, "other node": onOther} {
		if got := ids(r.Backups(ctx, pairTenant)); got != "new,old" {
			t.Errorf("backups listed on the %s: %s, want new,old (whichever node made them)", name, got)
		}
	}
	// Pruning on the other node removes the controller's record.
	if err := onOther.DeleteBackup(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if got := ids(ctrl.reg.Backups(ctx, pairTenant)); got != "new" {
		t.Errorf("backups in the controller's registry after a prune elsewhere: %s, want new", got)
	}
	// A record the controller would not take: refused, with the reason.
	bad := backup("nokey", 0)
	bad.Key = ""
	if err := onOther.AddBackup(ctx, bad); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("a backup without a key sent to the controller: %v, want a refusal naming the key", err)
	}

	day := made.Format(time.DateOnly)
	if err := onOther.SetStats(ctx, tenancy.DailyStats{TenantID: pairTenant, Day: day, BookingsCreated: 7, Customers: 3}); err != nil {
		t.Fatal(err)
	}
	stats, err := ctrl.reg.Stats(ctx, day)
	if err != nil || len(stats) != 1 || stats[0].BookingsCreated != 7 || stats[0].Slug != "acme" {
		t.Errorf("daily counts in the controller's registry: %+v, %v; want acme's 7 bookings", stats, err)
	}
}

// Once a node has joined, its registry lists only the businesses it owns: the jobs and the
// "find my business" look-up open what it lists, and must not open another node's.
func TestClusterRegistryListsOwned(t *testing.T) {
	ctx := t.Context()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(t.TempDir(), "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Close() }() // read only below
	ids := map[string]string{"mineaaaaaaaaaaaaaaaaaaaaaa": "mine", "theirsaaaaaaaaaaaaaaaaaaaa": "theirs", "lostaaaaaaaaaaaaaaaaaaaaaa": "lost"}
	for id, slug := range ids {
		if err := reg.Create(ctx, tenancy.Tenant{ID: id, Slug: slug, Name: slug, Timezone: "UTC", Status: tenancy.TenantActive,
			MigrationStatus: tenancy.MigrationOK, CreatedAt: time.Now()}, false); err != nil {
			t.Fatal(err)
		}
	}
	var member *clusterMember
	cr := clusterRegistry{SQLiteRegistry: reg, member: func() *clusterMember { return member }}
	slugs := func() []string {
		t.Helper()
		ts, err := cr.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tn := range ts {
			out = append(out, tn.Slug)
		}
		return out
	}
	if got := slugs(); !slices.Equal(got, []string{"lost", "mine", "theirs"}) {
		t.Errorf("before joining: %v, want all", got)
	}
	member = &clusterMember{held: map[string]uint64{"mineaaaaaaaaaaaaaaaaaaaaaa": 2, "lostaaaaaaaaaaaaaaaaaaaaaa": 1},
		fenced: map[string]bool{"lostaaaaaaaaaaaaaaaaaaaaaa": true}}
	if got := slugs(); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("joined: %v, want only the business it owns (not the one a successor fenced)", got)
	}
}
