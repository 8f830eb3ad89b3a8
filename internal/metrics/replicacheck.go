package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// replicaChecks are the figures of the job that restores tenants from the replica and checks
// them (jobs.VerifyReplica).
type replicaChecks struct {
	verifiedAt prometheus.Gauge
	verified   prometheus.Counter
	failures   prometheus.Counter
}

// ReplicaChecks adds the replica check's metrics (serve calls it with --replica); until then
// ReplicaCheck records nothing.
func (m *Metrics) ReplicaChecks() {
	c := &replicaChecks{
		verifiedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reserva_replica_verified_restore_timestamp_seconds",
			Help: "When the last replica check without a failure ran: tenants restored from the replica then passed integrity_check (alert on time() minus this).",
		}),
		verified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reserva_replica_verified_restores_total",
			Help: "Tenants restored from the replica into a temporary file that passed integrity_check.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reserva_replica_verify_failures_total",
			Help: "Tenants whose restore from the replica failed, or whose restored copy failed integrity_check.",
		}),
	}
	m.registry.MustRegister(c.verifiedAt, c.verified, c.failures)
	m.replicaChk = c
}

// ReplicaCheck records a replica check at `at`: verified tenants restored and checked, failed
// that did not pass.
func (m *Metrics) ReplicaCheck(at time.Time, verified, failed int) {
	c := m.replicaChk
	if c == nil {
		return
	}
	c.verified.Add(float64(verified))
	c.failures.Add(float64(failed))
	if failed == 0 && verified > 0 {
		c.verifiedAt.Set(float64(at.UnixNano()) / 1e9)
	}
}
