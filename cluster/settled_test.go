package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// Settled: the live set, but only once this node has heard its own heartbeats without a gap
// for a whole TTL. After a pause (the clock jumps past the TTL) it is unknown at once, and stays
// so for a TTL of heartbeats heard again, by which time the other node's renewal shows too;
// Live meanwhile may count the other node dead for a moment.
func TestSettledWaitsAfterGap(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	addrs := freeAddrs(t, 2)
	var off atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	cos := make([]*cluster.NATSCoordinator, 2)
	errc := make(chan error, 2)
	for i := range cos {
		id := fmt.Sprintf("n%d", i+1)
		node, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: id, ClusterAddr: addrs[i], Peers: []string{addrs[1-i]},
			StoreDir: filepath.Join(t.TempDir(), id)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(node.Shutdown)
		nc, err := node.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		cfg := cluster.NATSConfig{Self: cluster.NodeInfo{ID: id}, Voters: 2, LivenessTTL: testTTL, HeartbeatEvery: testHeartbeat}
		if i == 0 {
			cfg.Now = now
		}
		go func() {
			var err error
			cos[i], err = cluster.NewNATSCoordinator(ctx, nc, cfg)
			errc <- err
		}()
	}
	for range cos {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, co := range cos {
		t.Cleanup(func() { _ = co.Close() })
	}
	l := cos[0].Liveness()
	settled := func() ([]string, error) {
		nodes, err := l.Settled(ctx)
		var ids []string
		for _, n := range nodes {
			ids = append(ids, n.ID)
		}
		return ids, err
	}
	waitFor(t, "n1's view settled with both", 4*testTTL, l.Changed, func() bool {
		ids, err := settled()
		return err == nil && len(ids) == 2
	})

	jumped := time.Now()
	off.Add(int64(testTTL + testHeartbeat))
	if ids, err := settled(); !errors.Is(err, cluster.ErrUnknown) {
		t.Fatalf("right after a gap longer than the TTL: settled %v, %v; want unknown", ids, err)
	}
	waitFor(t, "n1's view settled again", 4*testTTL, l.Changed, func() bool {
		ids, err := settled()
		if err == nil && len(ids) != 2 {
			t.Fatalf("settled after the gap: %v, want n1 and n2 (both alive)", ids)
		}
		return err == nil
	})
	if since := time.Since(jumped); since < testTTL {
		t.Errorf("settled again %s after the gap, before a whole TTL (%s) of heartbeats", since, testTTL)
	}
	if _, err := l.Live(ctx); err != nil {
		t.Errorf("live after settling: %v", err)
	}
}
