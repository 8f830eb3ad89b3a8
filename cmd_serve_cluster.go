package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
	"golang.org/x/sync/singleflight"
)

// clusterFlags are serve's flags of cluster mode (issue #23). A node joins the cluster (its NATS
// server, the shared buckets, its liveness), serves the businesses it owns and forwards the
// requests of the others to their owner. A business that no node owns yet is claimed by the
// node its first request reaches (epoch 1), restoring its file from the replica; one whose
// owner is gone, by the claim rule (fence), at its next request or, without one, by the live
// node rendezvous picks for it (adoption, cmd_serve_cluster_adopt.go). A sign-up is served by
// the node rendezvous picks for its address (cmd_serve_cluster_spread.go). The registry is the
// elected controller's; every other node keeps a copy fed by the route map and sends its
// registry writes, a new business's too, to the controller (cmd_serve_registry.go).
type clusterFlags struct {
	on     *bool
	nodeID *string
	addr   *string
	peers  []string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	c := &clusterFlags{
		on: fs.Bool("cluster", false, "run as a node of a cluster, with --replica (RESERVA_CLUSTER; experimental: serves the businesses it owns,\n"+
			"forwards the others' requests to their owner)"),
		nodeID: fs.String("node-id", "", "this node's id in the cluster, unique: letters, digits, - and _ (RESERVA_NODE_ID)"),
		addr: fs.String("cluster-addr", "", "host:port on which this node meets its peers; peers reach its HTTP server on the same host\n"+
			"(RESERVA_CLUSTER_ADDR)"),
	}
	fs.Func("peers", "comma-separated host:port cluster addresses of the other nodes (RESERVA_PEERS)", func(v string) error {
		c.peers = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if _, _, err := net.SplitHostPort(p); err != nil {
					return fmt.Errorf("peer %q: %w", p, err)
				}
				c.peers = append(c.peers, p)
			}
		}
		return nil
	})
	return c
}

// check refuses cluster flags without --cluster, and --cluster without its node id, its
// address and a replica (replicaURL, --replica): in a cluster the replica is where a business
// lives when its owner is gone.
func (c *clusterFlags) check(replicaURL, replicaAck string) error {
	if !*c.on {
		if *c.nodeID != "" || *c.addr != "" || len(c.peers) > 0 {
			return fmt.Errorf("%w: serve: --node-id, --cluster-addr and --peers need --cluster", errUsage)
		}
		return nil
	}
	if *c.nodeID == "" || *c.addr == "" {
		return fmt.Errorf("%w: serve: --cluster needs --node-id and --cluster-addr", errUsage)
	}
	if replicaURL == "" {
		return fmt.Errorf("%w: serve: --cluster needs --replica (an S3-compatible store shared by the nodes)", errUsage)
	}
	if replicaAck != "sync" {
		// The write rule checks the fence after the replica holds a write: an answer sent
		// before could acknowledge a write a successor never sees.
		return fmt.Errorf("%w: serve: --cluster needs --replica-ack sync", errUsage)
	}
	if _, _, err := net.SplitHostPort(*c.addr); err != nil {
		return fmt.Errorf("%w: serve: --cluster-addr: %w", errUsage, err)
	}
	return nil
}

// clusterMember is this node's membership: its NATS server, and its coordinator once the
// cluster has formed.
type clusterMember struct {
	node *cluster.Node
	self cluster.NodeInfo
	stop context.CancelFunc
	done sync.WaitGroup
	log  *slog.Logger
	// claims makes claims single-flight per business.
	claims singleflight.Group
	// rep is the replica shared by the nodes: the epoch markers live there.
	rep *replica.Replicator
	// tenants is this node's tenancy layer (set before HTTP serves).
	tenants *tenancy.Manager
	// reg is this node's registry: the cluster's, while it is the controller; a copy fed by
	// the route map otherwise (cmd_serve_registry.go).
	reg     *tenancy.SQLiteRegistry
	dataDir string
	nc      *nats.Conn
	// pubMu orders the controller's publishes; mirrorMu the writes to this node's copy; opMu
	// the controller's registry writes.
	pubMu    sync.Mutex
	mirrorMu sync.Mutex
	opMu     sync.Mutex
	// applied are the records this node's copy took from the route map (under mirrorMu).
	applied map[string]tenancy.TenantRecord

	mu sync.Mutex
	co *cluster.NATSCoordinator
	// held is the epoch in which this node owns each business it claimed: it serves a
	// business only while placement names it with that epoch.
	held map[string]uint64
	// fenced are the businesses a successor claimed from this node: it never acknowledges
	// their writes again in the epoch it held (until it claims a later one).
	fenced map[string]bool
	// claimed and handedOver count claims and hand-overs since start (/metrics).
	claimed, handedOver atomic.Int64
	// moves is the connection on which this node asks others to claim what it hands them
	// (serveMoves sets it; nil: they claim at their next request).
	moves *nats.Conn
	// term is the controller epoch this node serves in (0: not the controller), sub its
	// subscription to registry writes, republish that a publish failed.
	term      uint64
	sub       *nats.Subscription
	republish bool
	// published is the registry's change counter as of what the controller last published.
	published int64
	// making are the businesses this node is creating (registryWrite): placed on it in epoch
	// 1, perhaps, and not held yet.
	making map[string]bool
	// adoption claims the businesses no live node holds (cmd_serve_cluster_adopt.go).
	adoption adoption
}

// joinCluster starts this node's NATS server (JetStream files in DATA/cluster), then, in the
// background, while HTTP already serves, its coordinator: JetStream forms once a majority of
// the nodes run, and serving must not wait for the others. The node advertises the HTTP
// address of its listener on its cluster host, and the newest tenant schema it knows.
func joinCluster(ctx context.Context, c *clusterFlags, dataDir string, httpAddr net.Addr, tenants *tenancy.Manager, rep *replica.Replicator, reg *tenancy.SQLiteRegistry, log *slog.Logger) (*clusterMember, error) {
	host, _, _ := net.SplitHostPort(*c.addr) // checked by check
	_, httpPort, err := net.SplitHostPort(httpAddr.String())
	if err != nil {
		return nil, fmt.Errorf("join cluster: HTTP address: %w", err)
	}
	node, err := cluster.StartNode(ctx, cluster.NodeConfig{
		ID: *c.nodeID, ClusterAddr: *c.addr, Peers: c.peers,
		StoreDir: filepath.Join(dataDir, "cluster"), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	nc, err := node.Connect()
	if err != nil {
		node.Shutdown()
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	self := cluster.NodeInfo{ID: *c.nodeID, HTTP: "http://" + net.JoinHostPort(host, httpPort), Schema: tenants.LatestVersion()}
	jctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m := &clusterMember{node: node, self: self, stop: stop, log: log, rep: rep, reg: reg, tenants: tenants, dataDir: dataDir, nc: nc,
		held: map[string]uint64{}, fenced: map[string]bool{}, applied: map[string]tenancy.TenantRecord{}}
	m.done.Go(func() {
		defer nc.Close()
		start := time.Now()
		co, err := cluster.NewNATSCoordinator(jctx, nc, cluster.NATSConfig{
			Self: self, Voters: 1 + len(c.peers), Log: log,
		})
		if err != nil {
			if jctx.Err() == nil {
				log.Error("join cluster", "node", self.ID, "err", err)
			}
			return
		}
		m.mu.Lock()
		m.co = co
		m.mu.Unlock()
		if err := m.serveMoves(nc); err != nil { // reserva cluster move
			log.Warn("join cluster", "node", self.ID, "err", err)
		}
		log.Info("joined the cluster", "node", self.ID, "http", self.HTTP, "after", time.Since(start).Round(time.Millisecond))
		// Adoption stops when serving does (SIGTERM: the drain hands businesses over, it
		// must not take new ones meanwhile), or at leave.
		actx, endAdoption := context.WithCancel(jctx)
		defer endAdoption()
		context.AfterFunc(ctx, endAdoption)
		m.startAdopting(actx, co)
		var wg sync.WaitGroup
		wg.Go(func() { m.followRegistry(jctx, co) })
		wg.Go(func() {
			cluster.Campaign(jctx, co, self.ID, cluster.Office{
				Lead:   func(ctx context.Context, term cluster.Owner) error { return m.lead(ctx, co, term) },
				Resign: m.resign,
			}, cluster.DefaultHeartbeatEvery, log)
		})
		wg.Go(func() { node.KeepLeaders(jctx, m.leaderHomes, cluster.LeaderStreams, leaderCheckEvery, log) })
		wg.Wait()
		m.stopAdopting()
		if err := co.Close(); err != nil {
			log.Warn("leave cluster", "node", self.ID, "err", err)
		}
	})
	return m, nil
}

// leaderCheckEvery is how often the controller checks where JetStream's groups are led.
const leaderCheckEvery = 2 * time.Second

// leaderHomes are, on the controller, the nodes on which JetStream's groups may be gathered
// (cluster.Node.KeepLeaders), best first (none on other nodes): the live nodes other than the
// controller that are not draining (leaderHomesOf).
//
// The loss of the node that leads costs its businesses an election (4-9 s) on top of the
// liveness TTL; the loss of any other, the TTL alone. So the leaders live on the node whose
// loss affects the fewest businesses, and never on the controller, whose loss then costs the
// registry's hand-over but no election.
func (m *clusterMember) leaderHomes() []string {
	co := m.coordinator()
	if m.leading() == 0 || co == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		return nil
	}
	held := map[string]int{}
	for _, n := range live {
		if n.ID != m.self.ID && !n.Draining {
			held[n.ID] = 0
		}
	}
	recs, err := co.Routes().Records(ctx)
	if err != nil {
		return nil
	}
	for id := range recs {
		if own, err := co.Placement().Owner(ctx, id); err == nil {
			if _, ok := held[own.Node]; ok {
				held[own.Node]++
			}
		}
	}
	return leaderHomesOf(held, m.node.MetaLeader())
}

// leaderHomesOf orders the candidate nodes (held: how many businesses each holds): the node
// that leads now (cur, the meta group's leader) first while it is a candidate, then the others
// by the businesses they hold, fewest first (then by id). The leaders move only when they must
// (their node is lost, draining or the controller): each move stalls the buckets for a moment,
// and the counts swing with every claim after a fault (choosing by them at every check moved the
// leaders five times within 20 s in the proof).
func leaderHomesOf(held map[string]int, cur string) []string {
	homes := slices.Sorted(maps.Keys(held))
	slices.SortStableFunc(homes, func(a, b string) int { return cmp.Compare(held[a], held[b]) })
	if _, ok := held[cur]; ok {
		homes = append([]string{cur}, slices.DeleteFunc(homes, func(h string) bool { return h == cur })...)
	}
	return homes
}

// leave removes this node's liveness (so that the others see it go at once) and stops its
// NATS server.
func (m *clusterMember) leave() {
	m.stop()
	m.done.Wait()
	m.node.Shutdown()
}

// NodeHeader names, on every answer to a business's request, the node that served it.
const NodeHeader = "X-Reserva-Node"

// coordinator returns the cluster's state, nil until the cluster has formed.
func (m *clusterMember) coordinator() *cluster.NATSCoordinator {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.co
}

// handler serves the requests of the businesses this node owns with local, and forwards the
// others to their owner (one hop; an owner that no longer owns the business answers 421 and
// the request is sent once more to the owner read afresh). Until the cluster has formed every
// request goes to local, whose fence answers 503 for businesses.
func (m *clusterMember) handler(local http.Handler) http.Handler {
	owner := func(r *http.Request, fresh bool) (string, error) {
		co := m.coordinator()
		if co == nil {
			if isSignUp(r) { // registered by the controller, and none is known yet
				return "", fmt.Errorf("sign up: this node has not joined the cluster yet: %w", cluster.ErrUnknown)
			}
			return "", nil
		}
		if isSignUp(r) {
			return m.signupNode(r, co)
		}
		node, err := cluster.RequestOwner(co.Routes(), co.Placement())(r, fresh)
		if err != nil {
			return node, err
		}
		if node == "" || node == m.self.ID {
			return m.newerNode(r, co, node), nil
		}
		// An owner gone from a current view of the cluster: this node serves the request
		// itself when it holds the business (its fence claims it, by the claim rule).
		// Otherwise the forward fails and the client is told to retry.
		live, lerr := co.Liveness().Live(r.Context())
		if lerr != nil || slices.ContainsFunc(live, func(n cluster.NodeInfo) bool { return n.ID == node }) {
			return node, nil
		}
		id, terr := cluster.RequestTenant(r.Context(), co.Routes(), r)
		if terr != nil || id == "" || m.tenants == nil {
			return node, nil
		}
		if _, gerr := m.tenants.Registry().Get(r.Context(), id); gerr != nil {
			return node, nil
		}
		return m.newerNode(r, co, ""), nil
	}
	addr := func(node string) (*url.URL, error) {
		co := m.coordinator()
		if co == nil {
			return nil, cluster.ErrUnknown
		}
		a, err := co.Liveness().Addr(node)
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("address of node %s: %w", node, err)
		}
		return u, nil
	}
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, m.self.ID)
		if r.Header.Get(cluster.ForwardedHeader) != "" {
			r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, true))
		}
		local.ServeHTTP(w, r)
	})
	return cluster.NewForwarder(cluster.ForwarderConfig{
		Self: m.self.ID, Owner: owner, Addr: addr, Local: served, Log: m.log,
	})
}

// isSignUp says whether r creates a business: it is placed by signupNode (any node may show
// the form).
func isSignUp(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/signup"
}

// errSchemaTooNew is the fence's answer for a business whose data is of a newer schema than
// this node's binary knows (a rolling upgrade under way): served by a node that knows it.
var errSchemaTooNew = errors.New("the business's data is newer than this server's version of Reserva")

// newerNode returns, for a request this node would serve itself (local: "" or this node's
// id), a live node that can serve it when this one cannot: its business's schema is newer
// than this node's binary knows (a rolling upgrade). It returns local otherwise, and when no
// live node knows the schema (the fence then answers 503).
func (m *clusterMember) newerNode(r *http.Request, co cluster.Coordinator, local string) string {
	if m.tenants == nil {
		return local
	}
	id, err := cluster.RequestTenant(r.Context(), co.Routes(), r)
	if err != nil || id == "" {
		return local
	}
	t, err := m.tenants.Registry().Get(r.Context(), id)
	// A draining node keeps serving what it holds until it hands it over, but claims nothing
	// new: a business no live node holds goes to one that is not draining.
	handOn := local == "" && m.draining() && !m.holds(id)
	if err != nil || t.SchemaVersion <= m.self.Schema && !handOn {
		return local
	}
	live, err := co.Liveness().Live(r.Context())
	if err != nil {
		return local
	}
	if n := nodeForSchema(id, t.SchemaVersion, live); n != "" {
		return n
	}
	return local
}

// nodeForSchema picks, among live, the node for business id of schema: one that serves
// requests (a bare NATS voter or a CLI's short-lived member has no HTTP address), is not
// draining, and whose binary knows the schema, by rendezvous hashing (so that every node picks
// the same); "" when none. Forwarding during a rolling upgrade, a drain's hand-over and the
// placement of a new business all choose with it.
func nodeForSchema(id string, schema int, live []cluster.NodeInfo) string {
	var ids []string
	for _, n := range live {
		if n.HTTP != "" && !n.Draining && n.Schema >= schema {
			ids = append(ids, n.ID)
		}
	}
	return cluster.Rendezvous(id, ids)
}

// fence is the owner check before a business's request is served (web.Fence): this node
// serves t only while placement names it, in the epoch it claimed. A business never placed is
// claimed here (its first request anywhere reaches the node whose registry holds it); one
// owned by another node is answered 421; when placement cannot be read the answer is 503.
func (m *clusterMember) fence(ctx context.Context, t tenancy.Tenant) error {
	if t.SchemaVersion > m.self.Schema {
		// Never served, nor claimed, here: its data would not open, and a failed open would
		// mark it failed for the whole cluster.
		return fmt.Errorf("%s is at schema %d, this node knows up to %d (it runs an older Reserva): %w",
			t.Slug, t.SchemaVersion, m.self.Schema, errSchemaTooNew)
	}
	co := m.coordinator()
	if co == nil {
		return fmt.Errorf("check the owner of %s: the cluster has not formed yet: %w", t.Slug, cluster.ErrUnknown)
	}
	// A node fenced out of t (m.fenced) goes the same way: it holds no epoch of t, so it serves
	// t again only after claiming a later epoch, when placement hands t back to it or t's
	// owner is gone; a stale view that still names it in the fenced epoch loses the claim's
	// compare-and-set.
	own, err := co.Placement().Owner(ctx, t.ID)
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return fmt.Errorf("check the owner of %s: %w", t.Slug, err)
	}
	if own.Node != "" && own.Node != m.self.ID {
		// Another node's. Only when the cluster's view is current, this node's own heartbeat
		// visible in it, and the owner's gone from it, is the owner dead: any doubt (a KV
		// error, a lagging watch) is "unknown", never "dead" (SCALEOUT.md's second hazard).
		live, err := co.Liveness().Live(ctx)
		if err != nil {
			return fmt.Errorf("check whether the owner of %s is alive: %w", t.Slug, err)
		}
		if slices.ContainsFunc(live, func(n cluster.NodeInfo) bool { return n.ID == own.Node }) {
			return m.misdirected(ctx, fmt.Errorf("%s is owned by node %s", t.Slug, own.Node))
		}
		m.log.WarnContext(ctx, "claim a business whose owner is gone", "tenant", t.Slug, "owner", own.Node, "epoch", own.Epoch)
	}
	m.mu.Lock()
	held, ok := m.held[t.ID]
	making := m.making[t.ID]
	m.mu.Unlock()
	if ok && own.Node == m.self.ID && own.Epoch == held {
		return nil
	}
	if making {
		// Being registered here, and claimed in epoch 1 once it is (claimNew): a claim now
		// would take it over from its own half-made copy.
		return fmt.Errorf("%s is being created: %w", t.Slug, tenancy.ErrUnavailable)
	}
	if own.Node == m.self.ID {
		// Placement names this node in an epoch it did not claim in this run (it restarted):
		// its copy may be older than the replica's, so it claims afresh.
		m.log.InfoContext(ctx, "claim a business placed on this node before a restart", "tenant", t.Slug, "epoch", own.Epoch)
	}
	_, err, _ = m.claims.Do(t.ID, func() (any, error) { return nil, m.claim(ctx, co, t, own) })
	return err
}

// claim makes this node t's owner in the epoch after prev's, and publishes t's route so that
// the other nodes forward its requests here.
func (m *clusterMember) claim(ctx context.Context, co cluster.Coordinator, t tenancy.Tenant, prev cluster.Owner) error {
	m.mu.Lock()
	held, ok := m.held[t.ID]
	m.mu.Unlock()
	if ok && held > prev.Epoch { // claimed by the flight this one waited behind
		return nil
	}
	rt, err := co.Routes().Lookup(ctx, cluster.RouteSlug, t.Slug)
	switch {
	case err == nil && rt.TenantID != t.ID:
		return fmt.Errorf("claim %s: the cluster routes its slug to another business, %s", t.Slug, rt.TenantID)
	case err != nil && !errors.Is(err, cluster.ErrNotFound):
		return fmt.Errorf("claim %s: look up its route: %w", t.Slug, err)
	}
	next := cluster.Owner{Node: m.self.ID, Epoch: prev.Epoch + 1}
	if err := co.Placement().CompareAndSwap(ctx, t.ID, prev, next); err != nil {
		if errors.Is(err, cluster.ErrStale) {
			// Another node moved first: the request goes back to the forwarder, which reads
			// the owner again.
			return m.misdirected(ctx, fmt.Errorf("claim %s: %w", t.Slug, err))
		}
		return fmt.Errorf("claim %s: %w", t.Slug, err)
	}
	// The hard fence: the epoch's marker in the store, created once. Losing it means another
	// claimant got the epoch despite the compare-and-set (a split coordinator): back off.
	if err := m.rep.CreateMarker(ctx, replica.EpochMarker(t.ID, next.Epoch)); err != nil {
		return fmt.Errorf("claim %s in epoch %d: %w", t.Slug, next.Epoch, err)
	}
	m.log.InfoContext(ctx, "claimed a business", "tenant", t.Slug, "node", next.Node, "epoch", next.Epoch)
	if prev.Epoch > 0 {
		// Taken over from another node, or handed to this one (a drain), or placed here
		// before a restart: any copy here may be older than the replica's. Drop it,
		// so that the open below restores from the newest epoch holding a copy (restoreMissing),
		// attaches the new epoch's chain, and syncs once before the first request is served.
		if err := m.takeOver(ctx, t, next.Epoch); err != nil {
			return fmt.Errorf("claim %s in epoch %d: %w", t.Slug, next.Epoch, err)
		}
	}
	if err := co.Routes().Put(ctx, cluster.RouteSlug, t.Slug, cluster.Route{
		TenantID: t.ID, Slug: t.Slug, Status: t.Status, Schema: t.SchemaVersion,
	}); err != nil {
		// Owned, but the other nodes could not find it: not served yet (held stays unset),
		// so the next request claims the next epoch and publishes the route again.
		return fmt.Errorf("claim %s: publish its route: %w", t.Slug, err)
	}
	m.mu.Lock()
	m.held[t.ID] = next.Epoch
	m.claimed.Add(1)
	delete(m.fenced, t.ID) // fenced in an earlier epoch; this epoch's copy is the replica's (takeOver)
	m.mu.Unlock()
	return nil
}

// forwardedKey marks, in a request's context, a request another node forwarded here.
type forwardedKey struct{}

// misdirected is the fence's answer for a business this node does not own: 421 to the node
// that forwarded the request (it reads the owner again and retries), but 503 with Retry-After
// to a client that came here directly (this node's view of the owner was stale a moment ago;
// browsers do not retry a 421 themselves).
func (m *clusterMember) misdirected(ctx context.Context, err error) error {
	if fwd, _ := ctx.Value(forwardedKey{}).(bool); fwd {
		return fmt.Errorf("%w: %w", err, web.ErrMisdirected)
	}
	return fmt.Errorf("%w: ownership is changing", err)
}

// errFenced is the write rule's answer once a successor has claimed a business from this node.
var errFenced = errors.New("this node no longer owns the business: another node claimed it")

// writeFence is the write rule (tenancy.Config.WriteFence), checked once the replica holds a
// request's commits: the marker of the epoch after the one this node holds must not exist. If
// it does, a successor has claimed the business (and restores from what the replica held
// before its claim): this node is fenced and never acknowledges the business's writes again.
// A failed HEAD cannot tell, and the write is answered "outcome unknown" too.
func (m *clusterMember) writeFence(ctx context.Context, tenantID string) error {
	m.mu.Lock()
	epoch, held := m.held[tenantID]
	fenced := m.fenced[tenantID]
	m.mu.Unlock()
	if fenced {
		return errFenced
	}
	if !held {
		return fmt.Errorf("acknowledge a write: this node holds no epoch of tenant %s", tenantID)
	}
	exists, err := m.rep.MarkerExists(ctx, replica.EpochMarker(tenantID, epoch+1))
	if err != nil {
		return fmt.Errorf("check the fence of tenant %s: %w", tenantID, err)
	}
	if !exists {
		return nil
	}
	m.mu.Lock()
	if m.held[tenantID] == epoch {
		delete(m.held, tenantID)
	}
	m.fenced[tenantID] = true
	m.mu.Unlock()
	m.log.ErrorContext(ctx, "fenced: another node claimed the business; its writes here are no longer acknowledged",
		"tenant", tenantID, "epoch", epoch)
	return errFenced
}

// replicaName is the name a database ships under (replicator.rename): a business this node
// holds in epoch e ships into that epoch's own chain (replica.TenantEpochName), where no
// fenced predecessor can write. A business opened before this node claimed it (the demo made
// at the first start) ships under its epoch-0 name until its handle closes; a successor's
// restore walks back to it (replica.RestoreLatestEpoch).
func (m *clusterMember) replicaName(name string) string {
	id, ok := strings.CutPrefix(name, replica.TenantName(""))
	if !ok || id == "" || strings.Contains(id, "/") {
		return name
	}
	m.mu.Lock()
	epoch, held := m.held[id]
	m.mu.Unlock()
	if !held {
		return name
	}
	return replica.TenantEpochName(id, epoch)
}

// restoreMissing writes business t's database into dst from the replica
// (tenancy.Config.RestoreMissing), for a node whose file is missing: from the newest epoch up
// to the one this node holds whose chain holds a copy (the epoch just claimed is empty until
// its first sync; epochs left by owners that died before syncing are empty too).
func (m *clusterMember) restoreMissing(ctx context.Context, t tenancy.Tenant, dst string) error {
	m.mu.Lock()
	epoch := m.held[t.ID]
	m.mu.Unlock()
	e, err := m.rep.RestoreLatestEpoch(ctx, replica.TenantName(t.ID), epoch, dst)
	if errors.Is(err, replica.ErrNotFound) {
		return errors.Join(err, tenancy.ErrNoReplicaCopy)
	}
	if err != nil {
		return err
	}
	m.log.InfoContext(ctx, "restored a business from the replica", "tenant", t.Slug, "from_epoch", e, "epoch", epoch)
	return nil
}

// takeOver makes this node's copy of t the replica's, as of the claim of epoch: with no request
// of t running here (Exclusive), its file (and the replicator's state beside it) is removed;
// then t is opened, which restores it from the newest epoch holding a copy and attaches it to
// epoch's chain, and synced once, so that the epoch's chain holds a copy before anything is
// acknowledged in it.
func (m *clusterMember) takeOver(ctx context.Context, t tenancy.Tenant, epoch uint64) error {
	path, err := m.tenants.Path(t.ID)
	if err != nil {
		return fmt.Errorf("take over: %w", err)
	}
	if err := m.tenants.Exclusive(ctx, t.ID, func() error {
		dir, file := filepath.Split(path)
		var errs []error
		for _, p := range []string{path, path + "-wal", path + "-shm", filepath.Join(dir, "."+file+"-litestream")} {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		return fmt.Errorf("take over: drop the stale copy: %w", err)
	}
	m.mu.Lock()
	m.held[t.ID] = epoch // the open below attaches, and restores, by it
	m.mu.Unlock()
	l, err := m.tenants.AcquireBounded(ctx, t)
	if err == nil {
		err = l.DB.Sync(ctx)
		l.Release()
	}
	if err != nil {
		m.mu.Lock()
		delete(m.held, t.ID)
		m.mu.Unlock()
		return fmt.Errorf("take over: restore and sync: %w", err)
	}
	return nil
}
