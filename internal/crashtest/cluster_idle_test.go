package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Idle businesses: signed up and placed like the others, then never requested (the load does
// not book them, the checks do not open them). When their owner is killed, a live node must
// claim each without a request (adoption), so that its jobs (reminders, mail, backups) run:
// before, a business nobody asked for stayed with the dead node until its next request.

// idleAdoptWithin bounds the time from killing an owner to the claim of each of its idle
// businesses by another node: the liveness TTL, then a settled view.
const idleAdoptWithin = 30 * time.Second

// provisionIdle signs up n idle businesses at random nodes (no furnishing: nothing books them).
func (r *clusterRig) provisionIdle(n int) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		slug := fmt.Sprintf("idle-%d", i)
		for {
			_, err := r.signUp(ctx, r.urls()[rand.IntN(len(r.nodes))], slug)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "503") || ctx.Err() != nil {
				t.Fatalf("%v\n%s", err, r.logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
		r.idle = append(r.idle, slug)
	}
}

// ownedIdle lists the idle businesses node owned at at.
func (r *clusterRig) ownedIdle(node string, at time.Time) []string {
	var out []string
	for slug, n := range r.owners(at) {
		if n == node && slices.Contains(r.idle, slug) {
			out = append(out, slug)
		}
	}
	slices.Sort(out)
	return out
}

// awaitAdopted waits until every idle business h's node owned is claimed by another node
// after the fault, and records the time from the fault to that claim.
func (r *clusterRig) awaitAdopted(h *faultHit, within time.Duration) {
	if h.idleClaim == nil {
		h.idleClaim = map[string]time.Duration{}
	}
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		for _, c := range r.claims() {
			if c.when.After(h.when) && c.node != h.node && slices.Contains(h.idle, c.tenant) {
				if _, ok := h.idleClaim[c.tenant]; !ok {
					h.idleClaim[c.tenant] = c.when.Sub(h.when)
				}
			}
		}
		if len(h.idleClaim) == len(h.idle) {
			return
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, slug := range h.idle {
				if _, ok := h.idleClaim[slug]; !ok {
					missing = append(missing, slug)
				}
			}
			r.t.Errorf("idle businesses of %s, never requested, not claimed by another node within %s of the fault: %v",
				h.node, within, missing)
			return
		}
	}
}

// idleRow is the table's line for h's idle businesses: the time from the fault to their claim.
func (h faultHit) idleRow() string {
	var ds []time.Duration
	for _, d := range h.idleClaim {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	p50, mx := "-", "-"
	if len(ds) > 0 {
		p50, mx = ds[(len(ds)-1)/2].Round(10*time.Millisecond).String(), ds[len(ds)-1].Round(10*time.Millisecond).String()
	}
	line := fmt.Sprintf("%-34s %-5s %4d %8s %8s %7s %7s", "  idle ones: claimed, no request", h.node, len(h.idle), p50, mx, "-", "-")
	if missing := len(h.idle) - len(ds); missing > 0 {
		line += fmt.Sprintf("  (%d never claimed)", missing)
	}
	return line
}
