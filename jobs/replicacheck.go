package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// Defaults of the replica check (Config.ReplicaCheckEvery, Config.ReplicaCheckSample).
const (
	DefaultReplicaCheckEvery  = time.Hour
	DefaultReplicaCheckSample = 5
)

// ReplicaCheckResult is what one replica check did.
type ReplicaCheckResult struct {
	Verified int      // restored from the replica and passed integrity_check
	Absent   int      // not in the replica (not opened since replication began)
	Failed   []string // slugs whose restore or check failed
}

func (r ReplicaCheckResult) String() string {
	return fmt.Sprintf("%d restored from the replica and verified, %d not in the replica, %d failed %v",
		r.Verified, r.Absent, len(r.Failed), r.Failed)
}

// ReplicaObserver hears of replica checks, for metrics (the Observer given to New may
// implement it).
type ReplicaObserver interface {
	// ReplicaCheck: a check at `at` restored verified tenants from the replica and checked
	// them with integrity_check; failed did not pass.
	ReplicaCheck(at time.Time, verified, failed int)
}

// VerifyReplica restores a random sample of n tenants from the replica, one at a time, each
// into a scratch file checked with integrity_check and removed (ops.VerifyReplicaCopy): the
// replication chain itself is tested, beside the periodic verified backups. A tenant the
// replica holds no copy of is counted apart; one deleted meanwhile is not counted. Failures
// are returned joined, each naming its tenant; the other tenants go on.
func VerifyReplica(ctx context.Context, m *tenancy.Manager, rep ops.ReplicaSource, n int, rnd *rand.Rand) (ReplicaCheckResult, error) {
	return verifyReplica(ctx, m, rep, n, rnd, nil)
}

// verifyReplica is VerifyReplica over a sample of the tenants owns has.
func verifyReplica(ctx context.Context, m *tenancy.Manager, rep ops.ReplicaSource, n int, rnd *rand.Rand, owns Owns) (ReplicaCheckResult, error) {
	var r ReplicaCheckResult
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	all = slices.DeleteFunc(all, func(t tenancy.Tenant) bool { return !owns.has(ctx, t.ID) })
	rnd.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	o := ops.New(m, nil) // only restores from the replica: no blob store needed
	var failed []error
	for _, t := range all[:min(n, len(all))] {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		err := o.VerifyReplicaCopy(ctx, rep, t)
		switch {
		case err == nil:
			r.Verified++
		case errors.Is(err, tenancy.ErrNotFound):
			if _, gerr := m.Registry().Get(ctx, t.ID); errors.Is(gerr, tenancy.ErrNotFound) {
				continue // deleted meanwhile: its replica went with it
			}
			r.Absent++
		default:
			if _, gerr := m.Registry().Get(ctx, t.ID); errors.Is(gerr, tenancy.ErrNotFound) {
				continue
			}
			r.Failed = append(r.Failed, t.Slug)
			failed = append(failed, fmt.Errorf("verify replica of tenant %s: %w", t.Slug, err))
		}
	}
	return r, errors.Join(failed...)
}

// replicaCheckJob is the scheduled replica check (registered when Config.Replica is set).
func replicaCheckJob(cfg Config, m *tenancy.Manager, obs Observer) struct {
	name  string
	every time.Duration
	run   func(context.Context) (string, error)
} {
	every, sample := cfg.ReplicaCheckEvery, cfg.ReplicaCheckSample
	if every <= 0 {
		every = DefaultReplicaCheckEvery
	}
	if sample <= 0 {
		sample = DefaultReplicaCheckSample
	}
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) // runs are singletons: one user
	return struct {
		name  string
		every time.Duration
		run   func(context.Context) (string, error)
	}{"replica-check", every, func(ctx context.Context) (string, error) {
		r, err := verifyReplica(ctx, m, cfg.Replica, sample, rnd, cfg.Owns)
		if ro, ok := obs.(ReplicaObserver); ok && ctx.Err() == nil {
			ro.ReplicaCheck(time.Now(), r.Verified, len(r.Failed))
		}
		return r.String(), err
	}}
}
