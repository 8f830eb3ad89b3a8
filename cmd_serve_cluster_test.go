package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

func TestServeClusterFlagsNeedEachOther(t *testing.T) {
	for _, args := range [][]string{
		{"--node-id", "n1"},
		{"--cluster-addr", "127.0.0.1:7000"},
		{"--peers", "127.0.0.1:7001"},
		{"--cluster"},
		{"--cluster", "--node-id", "n1"},
		{"--cluster", "--node-id", "n1", "--cluster-addr", "nohost"},
		{"--cluster", "--node-id", "n1", "--cluster-addr", "127.0.0.1:7000", "--peers", "127.0.0.1"},
	} {
		code, _, errOut := reserva(t, "", append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "usage: serve") {
			t.Errorf("serve %v: exit %d, %q; want a usage error", args, code, errOut)
		}
	}
}

// serve --cluster joins the cluster: its NATS server routes to the peers, and the shared
// liveness bucket shows the node with its HTTP address while it runs, and not once it stops.
func TestServeJoinsCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	addrs := make([]string, 2)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
	}
	peer, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: "peer", ClusterAddr: addrs[0], Peers: addrs[1:],
		StoreDir: filepath.Join(t.TempDir(), "peer")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Shutdown()

	base, errOut, stop := startServe(t, filepath.Join(t.TempDir(), "data"),
		"--cluster", "--node-id", "s1", "--cluster-addr", addrs[1], "--peers", addrs[0])

	// Requests are served at once, before the cluster has formed.
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}

	nc, err := peer.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{Self: cluster.NodeInfo{ID: "peer"}, Voters: 2})
	if err != nil {
		t.Fatalf("%v (serve: %s)", err, errOut.String())
	}
	defer func() { _ = co.Close() }() // the peer's own liveness; the node stops next anyway
	l := co.Liveness()
	live := func() []cluster.NodeInfo {
		nodes, err := l.Live(ctx)
		if err != nil && !errors.Is(err, cluster.ErrUnknown) {
			t.Fatal(err)
		}
		return nodes
	}
	await := func(what string, cond func([]cluster.NodeInfo) bool) {
		t.Helper()
		for {
			ch := l.Changed()
			if cond(live()) {
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("%s: %v (serve: %s)", what, ctx.Err(), errOut.String())
			}
		}
	}
	t.Logf("the peer's coordinator started %s after the test began", time.Since(begin).Round(time.Millisecond))
	await("serve's node live", func(nodes []cluster.NodeInfo) bool {
		i := slices.IndexFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s1" })
		return i >= 0 && nodes[i].HTTP == base && nodes[i].Schema > 0
	})
	t.Logf("serve's node live %s after the test began", time.Since(begin).Round(time.Millisecond))
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	// A clean stop removes the node's key: the others see it go without waiting for its TTL.
	stopped := time.Now()
	await("serve's node gone", func(nodes []cluster.NodeInfo) bool {
		return nodes != nil && !slices.ContainsFunc(nodes, func(n cluster.NodeInfo) bool { return n.ID == "s1" })
	})
	t.Logf("serve's node gone %s after it stopped", time.Since(stopped).Round(time.Millisecond))
	if since := time.Since(stopped); since >= cluster.DefaultLivenessTTL {
		t.Errorf("the stopped node left the live set after %s, its TTL: it did not say goodbye", since)
	}
}
