// Package metrics defines Reserva's Prometheus metrics, served at /metrics.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the process's collectors, in their own registry.
type Metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	migrations *prometheus.CounterVec
	jobRuns    *prometheus.CounterVec
	backupAt   prometheus.Gauge
	backlog    prometheus.Gauge
	replicaChk *replicaChecks // with --replica (ReplicaChecks)
}

// New registers Reserva's metrics. openHandles and idleHandles report the tenant handle counts.
func New(openHandles, idleHandles func() float64) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reserva_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reserva_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		migrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reserva_tenant_migrations_total", Help: "Tenant migration attempts by result (applied, failed).",
		}, []string{"result"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reserva_job_runs_total", Help: "Scheduled job runs by job and result (ok, failed).",
		}, []string{"job", "result"}),
		backupAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reserva_backup_complete_timestamp_seconds",
			Help: "When the newest complete backup round started: every tenant's newest backup holds its data as of then (alert on time() minus this).",
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reserva_outbox_backlog", Help: "Notifications waiting to be sent, over all tenants (as of the last reminders run).",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.migrations, m.jobRuns, m.backupAt, m.backlog,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_tenant_handles_open", Help: "Tenant databases open."}, openHandles),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_tenant_handles_idle", Help: "Open tenant databases with no request or job using them."}, idleHandles),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ReplicaTotals are the replication figures /metrics reports (with --replica).
type ReplicaTotals struct {
	Attached     int
	MaxLag       time.Duration
	BytesShipped int64
}

// Replication adds the replication gauges, read from totals at each scrape.
func (m *Metrics) Replication(totals func() ReplicaTotals) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_replica_attached",
			Help: "Databases attached to the replica (open tenants and the registry)."},
			func() float64 { return float64(totals().Attached) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_replica_lag_seconds_max",
			Help: "Largest replication lag among attached databases: how long since the replica last held every change of it (0: in step)."},
			func() float64 { return totals().MaxLag.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reserva_replica_shipped_bytes_total",
			Help: "Bytes of changes uploaded to the replica since start."},
			func() float64 { return float64(totals().BytesShipped) }),
	)
}

// ClusterTotals are a cluster node's figures /metrics reports (with --cluster).
type ClusterTotals struct {
	Held, Fenced         int // businesses this node serves now; those a successor claimed from it
	NodesServing         int // live nodes that serve businesses (-1: the view is not current)
	Controller, Draining bool
	Claims, HandedOver   int64 // since start: businesses claimed here, and handed to other nodes
}

// Cluster adds a cluster node's gauges, read from totals at each scrape.
func (m *Metrics) Cluster(totals func() ClusterTotals) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_cluster_businesses_held",
			Help: "Businesses this node owns and serves now."}, func() float64 { return float64(totals().Held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_cluster_businesses_fenced",
			Help: "Businesses another node claimed from this one while it held them (it acknowledges none of their writes)."},
			func() float64 { return float64(totals().Fenced) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_cluster_nodes_serving",
			Help: "Live nodes that serve businesses, as this node sees them (-1: its view is not current)."},
			func() float64 { return float64(totals().NodesServing) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_cluster_controller",
			Help: "1 while this node is the cluster's controller (owns the registry)."}, func() float64 { return b(totals().Controller) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reserva_cluster_draining",
			Help: "1 while this node is draining (takes no new business)."}, func() float64 { return b(totals().Draining) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reserva_cluster_claims_total",
			Help: "Businesses this node claimed (new, taken over, moved here) since start."}, func() float64 { return float64(totals().Claims) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reserva_cluster_handovers_total",
			Help: "Businesses this node handed to another (moves, drains) since start."}, func() float64 { return float64(totals().HandedOver) }),
	)
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type nameKey struct{}

// Name is what a timed request turns out to be, learnt as it is handled. Its zero value is
// ready: the caller keeps it in something it allocates for the request anyway.
type Name struct {
	route atomic.Pointer[string]
	kind  atomic.Pointer[string] // a websocket's operations run side by side
}

// Context returns a context in which SetRoute and SetKind name the request being timed into n.
func (n *Name) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, nameKey{}, n)
}

// String is the name, read once the request is answered: the route's pattern, followed by the
// kind when one was set, or "unrouted" for a request answered before it reached a route (an
// unknown business, a business being migrated, a refused cross-site request).
func (n *Name) String() string {
	r, k := n.route.Load(), n.kind.Load()
	if r == nil {
		r = &unrouted
	}
	if k == nil {
		return *r
	}
	return names.join(r, k) // POST /{slug}/graphql query, ... mutation
}

var unrouted = "unrouted"

// names interns routes, kinds and their joins: set and read on every request, a name is made
// (and allocated) once. They are the routes' patterns and GraphQL's operation kinds, never
// anything a client sends, so the set stays small.
var names = internTable{strs: map[string]*string{}, joined: map[[2]*string]string{}}

type internTable struct {
	mu     sync.RWMutex
	strs   map[string]*string
	joined map[[2]*string]string
}

func (t *internTable) of(s string) *string {
	t.mu.RLock()
	p := t.strs[s]
	t.mu.RUnlock()
	if p != nil {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p = t.strs[s]; p == nil {
		c := strings.Clone(s)
		p = &c
		t.strs[c] = p
	}
	return p
}

func (t *internTable) join(route, kind *string) string {
	key := [2]*string{route, kind}
	t.mu.RLock()
	j, ok := t.joined[key]
	t.mu.RUnlock()
	if ok {
		return j
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if j, ok = t.joined[key]; !ok {
		j = *route + " " + *kind
		t.joined[key] = j
	}
	return j
}

// SetRoute names the route (its pattern) that serves the request being timed. It does nothing
// when the request is not timed.
func SetRoute(ctx context.Context, pattern string) {
	if n, ok := ctx.Value(nameKey{}).(*Name); ok {
		n.route.Store(names.of(pattern))
	}
}

// SetKind names the kind of the request being timed within its route (a GraphQL request:
// query, mutation or subscription), so that the route's figures are kept apart by kind. It does
// nothing when the request is not timed.
func SetKind(ctx context.Context, kind string) {
	if n, ok := ctx.Value(nameKey{}).(*Name); ok {
		n.kind.Store(names.of(kind))
	}
}

// Request records one HTTP request.
func (m *Metrics) Request(route string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, statusLabel(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// statusLabels are the labels of the statuses HTTP defines, made once rather than per request.
var statusLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(100 + i)
	}
	return l
}()

func statusLabel(status int) string {
	if status >= 100 && status < 600 {
		return statusLabels[status-100]
	}
	return strconv.Itoa(status)
}

// Migration records one tenant migration attempt.
func (m *Metrics) Migration(failed bool) {
	result := "applied"
	if failed {
		result = "failed"
	}
	m.migrations.WithLabelValues(result).Inc()
}

// JobRun records one run of a scheduled job.
func (m *Metrics) JobRun(job string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.jobRuns.WithLabelValues(job, result).Inc()
}

// BackupRound records a complete backup round that started at started.
func (m *Metrics) BackupRound(started time.Time) { m.backupAt.Set(float64(started.UnixNano()) / 1e9) }

// OutboxBacklog records how many notifications wait to be sent.
func (m *Metrics) OutboxBacklog(n int) { m.backlog.Set(float64(n)) }
