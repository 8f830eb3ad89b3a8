package cluster

import (
	"hash/fnv"
	"math"
)

// Rendezvous returns the node that should own tenant among nodes, by rendezvous (highest
// random weight) hashing: each node scores the tenant with a hash of both names, and the
// highest score wins. When a node joins, only the tenants it now wins move (about 1/n of
// them); when one leaves, only its own tenants move, spread over the rest. It returns "" when
// nodes is empty. The order of nodes does not matter.
func Rendezvous(tenantID string, nodes []string) string {
	best, bestScore := "", -1.0
	for _, n := range nodes {
		s := rendezvousScore(tenantID, n)
		if s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// rendezvousScore is the weight of node for tenant: -1/ln(u) for u = the pair's hash mapped
// into (0, 1), the form that stays balanced for equal weights and allows weighted nodes later.
func rendezvousScore(tenantID, node string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(tenantID)) // a hash's Write never fails
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(node))
	x := mix64(h.Sum64())
	u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1)
	return -1 / math.Log(u)
}

// mix64 is splitmix64's finalizer: FNV alone leaves the high bits of similar inputs correlated.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
