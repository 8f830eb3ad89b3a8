package cluster_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/reserva/reserva/cluster"
)

func tenantIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%07dx", i*7919)
	}
	return ids
}

func owners(ids, nodes []string) map[string]string {
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[id] = cluster.Rendezvous(id, nodes)
	}
	return m
}

func TestRendezvousBalance(t *testing.T) {
	ids := tenantIDs(30_000)
	for _, n := range []int{2, 3, 5, 7} {
		nodes := make([]string, n)
		for i := range nodes {
			nodes[i] = fmt.Sprintf("node-%d", i+1)
		}
		count := map[string]int{}
		for _, o := range owners(ids, nodes) {
			count[o]++
		}
		want := len(ids) / n
		for _, node := range nodes {
			// Within 5% of an even share (a binomial's spread here is under 1%).
			if d := count[node] - want; d > want/20 || -d > want/20 {
				t.Errorf("%d nodes: %s owns %d tenants, want about %d", n, node, count[node], want)
			}
		}
		t.Logf("%d nodes: %v", n, count)
	}
}

func TestRendezvousMinimalMovement(t *testing.T) {
	ids := tenantIDs(20_000)
	three := []string{"a", "b", "c"}
	before := owners(ids, three)

	t.Run("Join", func(t *testing.T) {
		after := owners(ids, append(slices.Clone(three), "d"))
		moved := 0
		for id, o := range after {
			if o != before[id] {
				moved++
				if o != "d" {
					t.Fatalf("tenant %s moved from %s to %s, not to the new node", id, before[id], o)
				}
			}
		}
		// A quarter of the tenants should move to the fourth node, within 5% of that.
		if want := len(ids) / 4; moved < want*95/100 || moved > want*105/100 {
			t.Errorf("%d tenants moved, want about %d", moved, want)
		}
	})
	t.Run("Leave", func(t *testing.T) {
		after := owners(ids, []string{"c", "a"}) // b leaves; the order does not matter
		for id, o := range after {
			if before[id] != "b" && o != before[id] {
				t.Fatalf("tenant %s of %s moved to %s though its node stayed", id, before[id], o)
			}
		}
	})
	t.Run("NoNodes", func(t *testing.T) {
		if o := cluster.Rendezvous("x", nil); o != "" {
			t.Errorf("owner among no nodes = %q, want none", o)
		}
	})
}
