package cluster_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// A node whose cluster port is taken fails to start, at once and saying why, instead of
// waiting for a server that never gets ready (serve --cluster hung before printing its
// address).
func TestStartNodeFailsOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // held for the test
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	node, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "n1", ClusterAddr: ln.Addr().String()})
	if err == nil {
		node.Shutdown()
		t.Fatal("started on a taken cluster port")
	}
	if !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
		t.Errorf("after %s: %v, want the bind error before the deadline", time.Since(start).Round(time.Millisecond), err)
	}
}
