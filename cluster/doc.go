// Package cluster runs Reserva on several nodes: each node embeds a NATS server whose JetStream
// key-value buckets say which nodes are alive (liveness), which node owns each business
// (placement, changed only by compare-and-set on an epoch), which node is the controller that
// owns the registry (Controller, elected the same way) and where each slug and host leads, with
// each business's registry record (the route map); any node answers any request and forwards
// the ones it does not own to their owner, one hop at most.
//
// NATS decides who should own a business, never whether a write is safe: a KV call that fails
// or times out means "unknown", never "dead", and the fence that makes writes safe lives in the
// object store (a later part of issue #23). Everything NATS-specific sits behind Coordinator, so
// etcd can take its place.
//
// cluster may import tenancy; tenancy never imports cluster.
package cluster
