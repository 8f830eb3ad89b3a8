package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// Defaults of the cluster's timings (SCALEOUT.md: with NATS's default pings a paused member
// stalled the others' KV calls for tens of seconds; hence short pings and short calls).
const (
	// DefaultLivenessTTL is how long a node's heartbeat key lives without renewal: three
	// missed renewals. It is most of the failover of a lost node's businesses; SCALEOUT.md's
	// 5 s put the time to their first write at 5-7 s (issue #23's p50 target is 6 s). Safety
	// does not rest on it: a node wrongly counted gone is fenced by the store.
	DefaultLivenessTTL = 3 * time.Second
	// DefaultHeartbeatEvery is how often a node renews its heartbeat key.
	DefaultHeartbeatEvery = time.Second
	// DefaultCallTimeout bounds every KV call.
	DefaultCallTimeout = time.Second
	// DefaultPingInterval is the NATS ping interval of clients and routes.
	DefaultPingInterval = time.Second
	// MaxReplicas is the most copies a KV bucket keeps (R = min(MaxReplicas, voters)).
	MaxReplicas = 3
)

var (
	// ErrUnknown is returned when the coordinator cannot tell (a KV call failed or timed out, or
	// this node's view is not current). It never means "dead" or "absent": whoever gets it must
	// not steal, claim or delete on its strength.
	ErrUnknown = errors.New("cluster state unknown")
	// ErrNotFound is returned when the coordinator knows for sure that a key is absent.
	ErrNotFound = errors.New("not found in cluster state")
	// ErrStale is returned by a compare-and-set whose expected value is no longer the current
	// one (someone else moved first, or the epoch is stale).
	ErrStale = errors.New("stale cluster state")
)

// Coordinator is the cluster's shared state: node liveness, tenant placement and the route
// map. Its NATS implementation is NATSCoordinator; etcd can implement it too.
type Coordinator interface {
	Liveness() Liveness
	Placement() Placement
	Routes() RouteMap
	// Controller is the election of the node that owns the registry.
	Controller() Controller
	// Close stops this node's heartbeat, removing its liveness key so that the others see it
	// leave at once, and stops the watches.
	Close() error
}

// NodeInfo is what a node advertises in its heartbeat.
type NodeInfo struct {
	ID string `json:"id"`
	// HTTP is the base URL at which the node serves (and accepts forwarded) requests, e.g.
	// http://10.0.0.2:8080.
	HTTP string `json:"http"`
	// Schema is the newest tenant schema version the node's binary knows: it must never serve
	// a tenant whose schema is newer (rolling upgrades).
	Schema int `json:"schema"`
	// Draining says the node is handing its businesses to others (reserva cluster drain): it
	// is live, and forwards what it still gets, but takes no new business, sign-up or move.
	Draining bool `json:"draining,omitempty"`
}

// Liveness tells which nodes are alive: each node renews a key with a short TTL, and every node
// watches the bucket.
type Liveness interface {
	// Live returns the live nodes sorted by id. It returns ErrUnknown while this node's view is
	// not current: before the watch has delivered the bucket, or when this node's own heartbeat
	// has not been seen within the TTL (then it may be cut off, and must not act on others'
	// absence).
	Live(ctx context.Context) ([]NodeInfo, error)
	// Settled is Live for acting on many tenants at once (claiming every tenant of the nodes
	// gone): it returns ErrUnknown also until this node has seen its own heartbeats arrive
	// without a gap for a whole TTL. After a gap (this node paused, or the bucket stalled while
	// its leader was elected again) this node's own heartbeat shows again before the others'
	// renewals do, and for that moment Live counts them dead (SCALEOUT.md's second hazard).
	Settled(ctx context.Context) ([]NodeInfo, error)
	// Addr returns the HTTP address node advertises, while it is live. While this node's view
	// is not current it returns the address from the last live set this node knew: a node
	// whose view turned unknown can still reach the others (every view turns unknown while the
	// liveness bucket elects a leader), and a forward to a node that is gone fails by itself.
	// ErrNotFound: node is gone from a current view, or was never seen live.
	Addr(node string) (string, error)
	// Changed returns a channel closed at the next change of the live set.
	Changed() <-chan struct{}
	// SetDraining changes what this node advertises (NodeInfo.Draining) and stores its
	// heartbeat at once, so that the others stop choosing it before it hands anything over.
	SetDraining(ctx context.Context, draining bool) error
}

// Owner is who owns a tenant: a node, in an epoch that grows by one at each change of owner.
// The zero Owner means the tenant has never been placed.
type Owner struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
}

// Placement says which node owns each tenant. Only compare-and-set changes it.
type Placement interface {
	// Owner returns the tenant's owner from the watched cache, asking the KV store (bounded
	// by the call timeout) when the cache is not current. ErrNotFound: never placed;
	// ErrUnknown: cannot tell.
	Owner(ctx context.Context, tenantID string) (Owner, error)
	// Refresh is Owner read from the KV store itself, for when the cache proved stale (an
	// owner answered 421). Like every read it may be stale when the store is partitioned (a
	// cut-off leader answers until it notices); only CompareAndSwap is authoritative.
	Refresh(ctx context.Context, tenantID string) (Owner, error)
	// CompareAndSwap sets the tenant's owner to next if its current owner is prev (the zero
	// Owner: not placed yet) and next.Epoch is prev.Epoch+1. ErrStale when the current owner
	// is another; ErrUnknown when the outcome cannot be known (then read it again).
	CompareAndSwap(ctx context.Context, tenantID string, prev, next Owner) error
	// Changed returns a channel closed at the next change of any placement.
	Changed() <-chan struct{}
}

// Route is where a slug or host leads.
type Route struct {
	TenantID string `json:"tenant"`
	// Slug is the tenant's current slug: a route found under another slug is an old slug
	// that redirects here.
	Slug   string               `json:"slug"`
	Status tenancy.TenantStatus `json:"status"`
	Schema int                  `json:"schema"`
	// Record is the business's whole registry record, on its RouteTenant route only (the
	// controller publishes it; every node applies it to its copy of the registry).
	Record *tenancy.TenantRecord `json:"record,omitempty"`
}

// RouteKind says what a route's name is.
type RouteKind string

// Route kinds.
const (
	RouteSlug RouteKind = "s" // a current or old slug
	RouteHost RouteKind = "h" // a custom host, normalized with tenancy.NormalizeHost
	// RouteTenant is a business's record, named by its id (Route.Record).
	RouteTenant RouteKind = "t"
)

// RouteMap maps slugs and hosts to tenants. Every node keeps it in memory, fed by a watch, so a
// lookup costs no network call and a change reaches every node in milliseconds.
type RouteMap interface {
	// Lookup returns the route of name. ErrNotFound: no such route (known for sure);
	// ErrUnknown: the map is not current and the KV store could not be asked.
	Lookup(ctx context.Context, kind RouteKind, name string) (Route, error)
	// Put sets the route of name.
	Put(ctx context.Context, kind RouteKind, name string, r Route) error
	// Delete removes the route of name.
	Delete(ctx context.Context, kind RouteKind, name string) error
	// Records returns every business's record (the RouteTenant routes) by tenant id, from
	// memory. ErrUnknown: the map is not current.
	Records(ctx context.Context) (map[string]tenancy.TenantRecord, error)
	// Changed returns a channel closed at the next change of any route.
	Changed() <-chan struct{}
}
