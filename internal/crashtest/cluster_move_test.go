package crashtest

import (
	"os/exec"
	"regexp"
	"time"
)

// movedLine is what `reserva cluster move` prints once the target has claimed the business.
var movedLine = regexp.MustCompile(`Moved (\S+) from (\S+) to (\S+) \(epoch (\d+)\): paused (\S+) \(released in (\S+)\)`)

// moveBusinesses makes planned moves under the load: up to three businesses of the busiest
// node, one at a time, each to another node with `reserva cluster move`, which prints the
// pause (the owner's gate to the target's claim done). Each move is a fault of its own in the
// table (the time to the business's first acknowledged write after the command began).
func (r *clusterRig) moveBusinesses(ld *clusterLoad) []faultHit {
	t := r.t
	from := r.busiest()
	owned := r.owned(from.id, time.Now())
	var hits []faultHit
	for i, slug := range owned[:min(3, len(owned))] {
		var to *clusterNode
		for j := range r.nodes {
			if n := r.nodes[(i+j+1)%len(r.nodes)]; n != from {
				to = n
				break
			}
		}
		h := faultHit{node: from.id, when: time.Now(), affected: []string{slug}}
		out, err := exec.Command(r.bin, "cluster", "move", "--peers", from.addr, "--tenant", slug, "--to", to.id).CombinedOutput()
		m := movedLine.FindStringSubmatch(string(out))
		if err != nil || m == nil {
			t.Fatalf("cluster move %s %s -> %s: %v\n%s\n%s", slug, from.id, to.id, err, out, r.logs())
		}
		t.Logf("planned move of %s from %s to %s (epoch %s): pause %s (released in %s); the command took %s",
			slug, from.id, to.id, m[4], m[5], m[6], time.Since(h.when).Round(time.Millisecond))
		ld.awaitServed(t, &h, 15*time.Second)
		hits = append(hits, h)
	}
	ld.waitAcks(t, 20, 30*time.Second)
	return hits
}
