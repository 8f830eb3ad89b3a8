package ops

import (
	"context"
	"time"
)

// bulkShare is the share of one core that bulk work of one business (an export and its zip)
// takes while it runs beside live requests. Exports are rare and nobody waits on one the way a
// customer waits on a page: a 2,000-booking business's export takes a few tens of milliseconds
// of CPU, so a fifth of a core still delivers it in well under a second.
const bulkShare = 0.2

// paceStretch is how long bulk work runs before it rests: long enough that the rests, which
// the runtime's timers round to about a millisecond, are each a few milliseconds.
const paceStretch = 2 * time.Millisecond

// pacer keeps bulk work to a share of one core, as PostgreSQL's cost-based vacuum delay keeps
// vacuum from crowding out queries. The work calls Step often (every batch of rows, every
// chunk); once it has run for a stretch, Step rests long enough that the stretch was its share
// of the time.
//
// Yielding to the Go scheduler alone did not do it: the server runs more threads than cores,
// the kernel shares the cores among them, and an export's thread took its full turn next to
// every request's. Pacing shortened others' tail while one business exported back to back
// (docs/perf.md); most of what remained was the garbage collector, which the export's
// allocations kept busy (see eachLine and the zip's compressors in web), and atLowPriority
// did the rest.
type pacer struct {
	share float64
	since time.Time // when the current stretch of work began
}

// newPacer returns a pacer that holds work to share (0 < share ≤ 1) of one core.
func newPacer(share float64) *pacer {
	return &pacer{share: share, since: time.Now()}
}

// Step rests if the work has run for a stretch since its last rest. It returns ctx's error when
// ctx ends during the rest.
func (p *pacer) Step(ctx context.Context) error {
	worked := time.Since(p.since)
	if worked < paceStretch || p.share >= 1 {
		return nil
	}
	rest := time.Duration(float64(worked) * (1 - p.share) / p.share)
	t := time.NewTimer(rest)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.since = time.Now()
	return nil
}
