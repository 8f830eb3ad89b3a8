package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/reserva/reserva/tenancy"
)

// The KV buckets of the cluster's state.
const (
	BucketLiveness  = "liveness"
	BucketPlacement = "placement"
	BucketRoutes    = "routes"
	// BucketController holds one key, ControllerKey: the node that owns the registry.
	BucketController = "controller"
)

// NATSConfig configures a NATSCoordinator.
type NATSConfig struct {
	// Self is what this node advertises in its heartbeat.
	Self NodeInfo
	// Voters is how many nodes of the cluster run JetStream: each bucket keeps
	// min(MaxReplicas, Voters) copies.
	Voters int
	// LivenessTTL, HeartbeatEvery and CallTimeout default to DefaultLivenessTTL,
	// DefaultHeartbeatEvery and DefaultCallTimeout.
	LivenessTTL    time.Duration
	HeartbeatEvery time.Duration
	CallTimeout    time.Duration
	Log            *slog.Logger
	// Now is the clock (time.Now when nil); liveness compares only times read from it.
	Now func() time.Time
}

// NATSCoordinator is the Coordinator on NATS JetStream key-value buckets.
type NATSCoordinator struct {
	cfg       NATSConfig
	liveness  *natsLiveness
	placement *natsPlacement
	routes    *natsRoutes
	control   *natsController

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ Coordinator = (*NATSCoordinator)(nil)

// nodeIDPattern keeps node and tenant ids usable as KV keys as they are.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewNATSCoordinator creates the buckets (or finds them), starts the watches and this node's
// heartbeat, and returns once the node's first heartbeat is stored. It keeps trying while the
// JetStream cluster elects its leaders, until ctx ends.
func NewNATSCoordinator(ctx context.Context, nc *nats.Conn, cfg NATSConfig) (*NATSCoordinator, error) {
	if !nodeIDPattern.MatchString(cfg.Self.ID) {
		return nil, fmt.Errorf("start coordinator: node id %q: use 1 to 64 letters, digits, - or _", cfg.Self.ID)
	}
	if cfg.Voters < 1 {
		cfg.Voters = 1
	}
	cfg.LivenessTTL = orDefault(cfg.LivenessTTL, DefaultLivenessTTL)
	cfg.HeartbeatEvery = orDefault(cfg.HeartbeatEvery, DefaultHeartbeatEvery)
	cfg.CallTimeout = orDefault(cfg.CallTimeout, DefaultCallTimeout)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("start coordinator: %w", err)
	}
	replicas := min(MaxReplicas, cfg.Voters)
	buckets := map[string]jetstream.KeyValueConfig{
		// A heartbeat lives for the TTL; the server marks its expiry, so that watches see a
		// node go without waiting for anything else.
		BucketLiveness: {Bucket: BucketLiveness, History: 1, TTL: cfg.LivenessTTL,
			LimitMarkerTTL: max(cfg.LivenessTTL, time.Second), Replicas: replicas, Storage: jetstream.FileStorage},
		BucketPlacement:  {Bucket: BucketPlacement, History: 1, Replicas: replicas, Storage: jetstream.FileStorage},
		BucketRoutes:     {Bucket: BucketRoutes, History: 1, Replicas: replicas, Storage: jetstream.FileStorage},
		BucketController: {Bucket: BucketController, History: 1, Replicas: replicas, Storage: jetstream.FileStorage},
	}
	kvs := map[string]jetstream.KeyValue{}
	for name, bc := range buckets {
		kv, err := ensureBucket(ctx, js, bc, cfg.CallTimeout)
		if err != nil {
			return nil, err
		}
		kvs[name] = kv
	}

	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &NATSCoordinator{cfg: cfg, stop: stop}
	c.liveness = newNATSLiveness(kvs[BucketLiveness], cfg)
	c.placement = &natsPlacement{nc: nc, bucket: BucketPlacement, kv: kvs[BucketPlacement], timeout: cfg.CallTimeout,
		view: newView(BucketPlacement, kvs[BucketPlacement], decodeJSON[Owner], cfg.Now, cfg.Log)}
	c.control = &natsController{p: natsPlacement{nc: nc, bucket: BucketController, kv: kvs[BucketController], timeout: cfg.CallTimeout,
		view: newView(BucketController, kvs[BucketController], decodeJSON[Owner], cfg.Now, cfg.Log)}}
	c.routes = &natsRoutes{kv: kvs[BucketRoutes], timeout: cfg.CallTimeout,
		view: newView(BucketRoutes, kvs[BucketRoutes], decodeJSON[Route], cfg.Now, cfg.Log)}
	for _, run := range []func(context.Context, time.Duration){c.liveness.view.run, c.placement.view.run, c.routes.view.run, c.control.p.view.run} {
		c.wg.Go(func() { run(wctx, cfg.HeartbeatEvery) })
	}
	c.wg.Go(func() { c.liveness.sweep(wctx) })
	for name, v := range map[string]interface {
		checkStall(context.Context, func(context.Context) (uint64, error), time.Duration)
	}{BucketLiveness: c.liveness.view, BucketPlacement: c.placement.view, BucketRoutes: c.routes.view, BucketController: c.control.p.view} {
		lastSeq := func(ctx context.Context) (uint64, error) { return streamLastSeq(ctx, nc, name, cfg.CallTimeout) }
		c.wg.Go(func() {
			t := time.NewTicker(cfg.HeartbeatEvery)
			defer t.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-t.C:
					v.checkStall(wctx, lastSeq, 2*cfg.HeartbeatEvery)
				}
			}
		})
	}

	// The first heartbeat before returning: a node that cannot store it is not part of the
	// cluster yet.
	for {
		err := c.liveness.beat(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			_ = c.Close()
			return nil, fmt.Errorf("start coordinator: first heartbeat: %w", err)
		}
	}
	c.wg.Go(func() { c.liveness.heartbeat(wctx) })
	return c, nil
}

// ensureBucket creates the bucket or updates its configuration, trying again until ctx ends
// (JetStream answers "no leader" while its cluster forms).
func ensureBucket(ctx context.Context, js jetstream.JetStream, bc jetstream.KeyValueConfig, timeout time.Duration) (jetstream.KeyValue, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		kv, err := js.CreateOrUpdateKeyValue(cctx, bc)
		cancel()
		if err == nil {
			return kv, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("create bucket %s: %w (%w)", bc.Bucket, err, ctx.Err())
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// Liveness returns the node liveness view.
func (c *NATSCoordinator) Liveness() Liveness { return c.liveness }

// Placement returns tenant placement.
func (c *NATSCoordinator) Placement() Placement { return c.placement }

// Routes returns the route map.
func (c *NATSCoordinator) Routes() RouteMap { return c.routes }

// Controller returns the controller election.
func (c *NATSCoordinator) Controller() Controller { return c.control }

// Close stops the heartbeat and the watches and removes this node's liveness key.
func (c *NATSCoordinator) Close() error {
	c.stop()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CallTimeout)
	defer cancel()
	if err := c.liveness.kv.Delete(ctx, c.cfg.Self.ID); err != nil {
		return fmt.Errorf("remove liveness of node %s: %w", c.cfg.Self.ID, err)
	}
	return nil
}

// natsLiveness is Liveness on a bucket of heartbeat keys with a TTL.
type natsLiveness struct {
	kv   jetstream.KeyValue
	cfg  NATSConfig
	view *view[NodeInfo]
	self []byte // the heartbeat's value (under mu: SetDraining changes it)

	mu        sync.Mutex
	last      []string            // the live set last announced
	lastLive  map[string]NodeInfo // the last live set known (Addr)
	changed   chan struct{}
	failing   bool      // the last heartbeat failed (logged once per run of failures)
	putRev    uint64    // the revision of the last heartbeat stored
	putAt     time.Time // when it was stored
	restarted time.Time // when the watch was last restarted for a stall
	// ownSeen is when this node last received its own heartbeat; flowing since when they
	// have arrived without a gap longer than flowGap (zero: not now).
	ownSeen time.Time
	flowing time.Time
}

func newNATSLiveness(kv jetstream.KeyValue, cfg NATSConfig) *natsLiveness {
	self, _ := json.Marshal(cfg.Self) // a struct of strings and ints always marshals
	l := &natsLiveness{kv: kv, cfg: cfg, self: self, changed: make(chan struct{})}
	l.view = newView(BucketLiveness, kv, decodeJSON[NodeInfo], cfg.Now, cfg.Log)
	l.view.applied = l.recheck
	return l
}

func (l *natsLiveness) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.CallTimeout)
	defer cancel()
	l.mu.Lock()
	self := l.self
	l.mu.Unlock()
	rev, err := l.kv.Put(ctx, l.cfg.Self.ID, self)
	if err == nil {
		l.mu.Lock()
		l.putRev, l.putAt = rev, l.cfg.Now()
		l.mu.Unlock()
	}
	return err
}

func (l *natsLiveness) SetDraining(ctx context.Context, draining bool) error {
	l.mu.Lock()
	info := l.cfg.Self
	info.Draining = draining
	l.self, _ = json.Marshal(info) // a struct of strings, ints and bools always marshals
	l.mu.Unlock()
	if err := l.beat(ctx); err != nil {
		return fmt.Errorf("advertise draining=%t: %w", draining, err)
	}
	return nil
}

// unstall restarts the watch when the store keeps taking this node's heartbeats but the watch
// has delivered none for two heartbeats: its consumer was on a server that stopped, and the
// client would notice only after several missed idle heartbeats (which left the view unknown
// for about 18 s in the package's test).
func (l *natsLiveness) unstall() {
	e, found, _ := l.view.get(l.cfg.Self.ID)
	now := l.cfg.Now()
	stallAfter := 2 * l.cfg.HeartbeatEvery
	l.mu.Lock()
	// Only while heartbeats are stored: when they fail, this node is cut off, and watching
	// again would not help.
	since := now.Sub(l.putAt)
	stalled := !l.putAt.IsZero() && since < l.cfg.LivenessTTL && (!found || e.rev < l.putRev && now.Sub(e.seen) > stallAfter) &&
		now.Sub(l.restarted) > 2*stallAfter
	// A watch that does not start (its consumer's creation waits on a server that stopped)
	// is tried again too.
	stalled = stalled || (l.view.starting(2*stallAfter) && now.Sub(l.restarted) > 2*stallAfter)
	if stalled {
		l.restarted = now
	}
	l.mu.Unlock()
	if stalled {
		l.cfg.Log.Warn("the liveness watch stalled; watching again", "node", l.cfg.Self.ID)
		l.view.restart()
	}
}

// heartbeat renews this node's key until ctx ends.
func (l *natsLiveness) heartbeat(ctx context.Context) {
	t := time.NewTicker(l.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.beat(ctx)
		l.mu.Lock()
		was := l.failing
		l.failing = err != nil
		l.mu.Unlock()
		switch {
		case err != nil && !was && ctx.Err() == nil:
			l.cfg.Log.Warn("renew node liveness", "node", l.cfg.Self.ID, "err", err)
		case err == nil && was:
			l.cfg.Log.Info("node liveness renewed again", "node", l.cfg.Self.ID)
		}
	}
}

// sweep rechecks the live set as time passes: this node's own heartbeat going stale (it is cut
// off) makes its view unknown without any event.
func (l *natsLiveness) sweep(ctx context.Context) {
	t := time.NewTicker(l.cfg.HeartbeatEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.unstall()
			l.recheck()
		}
	}
}

// live computes the live set; ok is false when this node's view cannot be trusted.
//
// A node leaves the set when the server's expiry marker (or its goodbye) arrives, or when this
// node has seen its own heartbeat come back more than a TTL after the other's last one: the
// watch was flowing and the other did not renew. Time alone never removes a node, since a node
// cut off from the cluster hears nobody, itself included; its view is unknown instead.
func (l *natsLiveness) live() (nodes []NodeInfo, ok bool) {
	entries, current := l.view.snapshot()
	own, found := entries[l.cfg.Self.ID]
	if !current || !found || l.cfg.Now().Sub(own.seen) >= l.cfg.LivenessTTL {
		return nil, false
	}
	for _, e := range entries {
		if own.seen.Sub(e.seen) < l.cfg.LivenessTTL {
			nodes = append(nodes, e.v)
		}
	}
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return nodes, true
}

// flowGap is the longest wait between two of this node's own heartbeats, as this node
// receives them, that is no gap (two missed renewals and a half are).
func (l *natsLiveness) flowGap() time.Duration {
	return 2*l.cfg.HeartbeatEvery + l.cfg.HeartbeatEvery/2
}

// trackFlow follows whether this node's own heartbeats arrive without a gap (Settled). It
// runs at every change the watch applies (each arrival, however soon after a pause) and at
// every sweep (a gap while nothing arrives).
func (l *natsLiveness) trackFlow() {
	e, found, current := l.view.get(l.cfg.Self.ID)
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !current || !found || now.Sub(e.seen) > l.flowGap():
		l.flowing = time.Time{}
	case e.seen.Equal(l.ownSeen):
	case !l.ownSeen.IsZero() && e.seen.Sub(l.ownSeen) > l.flowGap():
		l.flowing = e.seen // it arrived after a gap (this process was paused): flowing anew
	case l.flowing.IsZero():
		l.flowing = e.seen
	}
	if found && current {
		l.ownSeen = e.seen
	}
}

// recheck announces a change of the live set (or of whether it is known).
func (l *natsLiveness) recheck() {
	l.trackFlow()
	nodes, ok := l.live()
	ids := []string{}
	if !ok {
		ids = nil
	}
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.lastLive = make(map[string]NodeInfo, len(nodes))
		for _, n := range nodes {
			l.lastLive[n.ID] = n
		}
	}
	if slices.Equal(ids, l.last) && (ids == nil) == (l.last == nil) {
		return
	}
	l.last = ids
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *natsLiveness) Live(context.Context) ([]NodeInfo, error) {
	nodes, ok := l.live()
	if !ok {
		return nil, fmt.Errorf("live nodes: this node's view is not current: %w", ErrUnknown)
	}
	return nodes, nil
}

func (l *natsLiveness) Settled(ctx context.Context) ([]NodeInfo, error) {
	nodes, err := l.Live(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	flowing := l.flowing
	l.mu.Unlock()
	if flowing.IsZero() || l.cfg.Now().Sub(flowing) < l.cfg.LivenessTTL {
		return nil, fmt.Errorf("live nodes: this node's view has not been current for a whole TTL yet: %w", ErrUnknown)
	}
	return nodes, nil
}

func (l *natsLiveness) Addr(node string) (string, error) {
	nodes, ok := l.live()
	if !ok {
		l.mu.Lock()
		n, found := l.lastLive[node]
		l.mu.Unlock()
		if found {
			return n.HTTP, nil
		}
	}
	for _, n := range nodes {
		if n.ID == node {
			return n.HTTP, nil
		}
	}
	return "", fmt.Errorf("node %s is not live: %w", node, ErrNotFound)
}

func (l *natsLiveness) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// natsPlacement is Placement on a bucket of tenant id → Owner.
type natsPlacement struct {
	nc      *nats.Conn
	bucket  string
	kv      jetstream.KeyValue
	timeout time.Duration
	view    *view[Owner]
}

func (p *natsPlacement) Owner(ctx context.Context, tenantID string) (Owner, error) {
	if e, found, current := p.view.get(tenantID); found && current {
		return e.v, nil
	}
	// A miss asks the store: the tenant may have been placed a moment ago.
	return p.Refresh(ctx, tenantID)
}

func (p *natsPlacement) Refresh(ctx context.Context, tenantID string) (Owner, error) {
	o, _, err := p.read(ctx, tenantID)
	return o, err
}

// read returns the tenant's owner and its revision (0 when never placed or removed).
func (p *natsPlacement) read(ctx context.Context, tenantID string) (Owner, uint64, error) {
	if !nodeIDPattern.MatchString(tenantID) {
		return Owner{}, 0, fmt.Errorf("owner of tenant %q: %w", tenantID, ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	val, rev, err := leaderGet(ctx, p.nc, p.bucket, tenantID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Owner{}, 0, fmt.Errorf("owner of tenant %s: %w", tenantID, ErrNotFound)
	case err != nil:
		return Owner{}, 0, fmt.Errorf("owner of tenant %s: %w: %w", tenantID, ErrUnknown, err)
	}
	o, err := decodeJSON[Owner](val)
	if err != nil {
		return Owner{}, 0, fmt.Errorf("owner of tenant %s: %w", tenantID, err)
	}
	// What the leader said is at least as new as the watched cache: a claim that found the
	// cache stale (ErrStale) corrects it, and the next request goes to the new owner.
	p.view.learn(tenantID, o, rev)
	return o, rev, nil
}

// streamLastSeq returns the last sequence of a bucket's stream, from its leader.
func streamLastSeq(ctx context.Context, nc *nats.Conn, bucket string, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.INFO.KV_"+bucket, nil)
	if err != nil {
		return 0, err
	}
	var resp struct {
		State *struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("decode stream info: %w", err)
	}
	if resp.State == nil {
		return 0, errors.New("stream info without state")
	}
	return resp.State.LastSeq, nil
}

// leaderGet reads a key's latest value from its bucket's stream leader. The KV client's Get
// asks any replica (direct get), and a replica that lags answered with the value before a
// compare-and-set that had already succeeded; the leader has every acknowledged write.
func leaderGet(ctx context.Context, nc *nats.Conn, bucket, key string) ([]byte, uint64, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key}) // strings always marshal
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, err
	}
	var resp struct {
		Message *struct {
			Seq  uint64 `json:"seq"`
			Hdrs []byte `json:"hdrs"`
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Code    int    `json:"code"`
			ErrCode int    `json:"err_code"`
			Desc    string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, fmt.Errorf("decode the stream leader's answer: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound):
		return nil, 0, ErrNotFound
	case resp.Error != nil:
		return nil, 0, fmt.Errorf("stream leader: %s (%d)", resp.Error.Desc, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, 0, errors.New("stream leader: empty answer")
	}
	if len(resp.Message.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
		if err != nil {
			return nil, 0, fmt.Errorf("decode headers: %w", err)
		}
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
			return nil, 0, ErrNotFound
		}
	}
	return resp.Message.Data, resp.Message.Seq, nil
}

func (p *natsPlacement) CompareAndSwap(ctx context.Context, tenantID string, prev, next Owner) error {
	if next.Node == "" || next.Epoch != prev.Epoch+1 {
		return fmt.Errorf("place tenant %s: owner %+v cannot follow %+v: the epoch must grow by one", tenantID, next, prev)
	}
	cur, rev, err := p.read(ctx, tenantID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("place tenant %s: %w", tenantID, err)
	}
	if cur != prev {
		return fmt.Errorf("place tenant %s: owner is %+v, not %+v: %w", tenantID, cur, prev, ErrStale)
	}
	val, _ := json.Marshal(next) // a struct of a string and an int always marshals
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if rev == 0 {
		_, err = p.kv.Create(cctx, tenantID, val)
	} else {
		_, err = p.kv.Update(cctx, tenantID, val, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("place tenant %s: owner changed meanwhile: %w", tenantID, ErrStale)
	case err != nil:
		return fmt.Errorf("place tenant %s on %s: %w: %w", tenantID, next.Node, ErrUnknown, err)
	}
	return nil
}

func (p *natsPlacement) Changed() <-chan struct{} { return p.view.Changed() }

// natsRoutes is RouteMap on a bucket of "s.<slug>" and "h.<host>" keys (names in base64url,
// since slugs and hosts may hold characters that keys may not).
type natsRoutes struct {
	kv      jetstream.KeyValue
	timeout time.Duration
	view    *view[Route]
}

// MaxRouteName bounds the names of routes (hosts are at most 253 characters).
const MaxRouteName = 255

func routeKey(kind RouteKind, name string) (string, error) {
	if kind != RouteSlug && kind != RouteHost && kind != RouteTenant {
		return "", fmt.Errorf("route kind %q: use %q, %q or %q", kind, RouteSlug, RouteHost, RouteTenant)
	}
	if name == "" || len(name) > MaxRouteName {
		return "", fmt.Errorf("route name of %d bytes: use 1 to %d", len(name), MaxRouteName)
	}
	return string(kind) + "." + base64.RawURLEncoding.EncodeToString([]byte(name)), nil
}

// Lookup answers from memory while the map is current (a miss then is a sure "not found", so
// a flood of made-up slugs costs the store nothing); otherwise it asks the store.
func (rm *natsRoutes) Lookup(ctx context.Context, kind RouteKind, name string) (Route, error) {
	key, err := routeKey(kind, name)
	if err != nil {
		return Route{}, fmt.Errorf("look up route: %w", ErrNotFound)
	}
	if e, found, current := rm.view.get(key); current {
		if !found {
			return Route{}, fmt.Errorf("route %s %q: %w", kind, name, ErrNotFound)
		}
		return e.v, nil
	}
	cctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	e, err := rm.kv.Get(cctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Route{}, fmt.Errorf("route %s %q: %w", kind, name, ErrNotFound)
	case err != nil:
		return Route{}, fmt.Errorf("route %s %q: %w: %w", kind, name, ErrUnknown, err)
	}
	return decodeJSON[Route](e.Value())
}

func (rm *natsRoutes) Put(ctx context.Context, kind RouteKind, name string, r Route) error {
	key, err := routeKey(kind, name)
	if err != nil {
		return fmt.Errorf("put route: %w", err)
	}
	val, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put route %s %q: %w", kind, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	if _, err := rm.kv.Put(ctx, key, val); err != nil {
		return fmt.Errorf("put route %s %q: %w: %w", kind, name, ErrUnknown, err)
	}
	return nil
}

func (rm *natsRoutes) Delete(ctx context.Context, kind RouteKind, name string) error {
	key, err := routeKey(kind, name)
	if err != nil {
		return fmt.Errorf("delete route: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, rm.timeout)
	defer cancel()
	if err := rm.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete route %s %q: %w: %w", kind, name, ErrUnknown, err)
	}
	return nil
}

func (rm *natsRoutes) Records(context.Context) (map[string]tenancy.TenantRecord, error) {
	entries, current := rm.view.snapshot()
	if !current {
		return nil, fmt.Errorf("business records: the route map is not current: %w", ErrUnknown)
	}
	recs := map[string]tenancy.TenantRecord{}
	for k, e := range entries {
		if strings.HasPrefix(k, string(RouteTenant)+".") && e.v.Record != nil && e.v.Record.Tenant.ID == e.v.TenantID {
			recs[e.v.TenantID] = *e.v.Record
		}
	}
	return recs, nil
}

func (rm *natsRoutes) Changed() <-chan struct{} { return rm.view.Changed() }

func decodeJSON[T any](b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
