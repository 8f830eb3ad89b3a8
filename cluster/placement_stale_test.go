package cluster

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// A claim whose compare-and-set finds the watched placement stale corrects it: the next
// lookup names the owner the store holds. The proof (internal/crashtest TestClusterProof)
// saw a node's placement watch deliver nothing for seconds after the server its consumer sat
// on stopped; meanwhile each request there read the dead owner from the cache, tried to
// claim from it, lost the compare-and-set and answered 503, until the watch was restarted.
func TestStaleClaimCorrectsPlacementCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Two voters: a lone JetStream node with a cluster address waits for peers.
	dir := t.TempDir()
	other, err := StartNode(ctx, NodeConfig{ID: "voter", ClusterAddr: addrs[1], Peers: addrs[:1], StoreDir: filepath.Join(dir, "voter")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	node, err := StartNode(ctx, NodeConfig{ID: "n1", ClusterAddr: addrs[0], Peers: addrs[1:], StoreDir: filepath.Join(dir, "n1")})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown()
	nc, err := node.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	co, err := NewNATSCoordinator(ctx, nc, NATSConfig{Self: NodeInfo{ID: "n1"}, Voters: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = co.Close() }() // the node stops next anyway
	p := co.placement
	const id = "stalecacheaaaaaaaaaaaaaaaa"
	first, second := Owner{Node: "gone", Epoch: 1}, Owner{Node: "n2", Epoch: 2}
	await := func(want Owner) viewEntry[Owner] {
		t.Helper()
		for {
			ch := p.Changed()
			if e, found, _ := p.view.get(id); found && e.v == want {
				return e
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("the view never showed %+v", want)
			}
		}
	}
	if err := p.CompareAndSwap(ctx, id, Owner{}, first); err != nil {
		t.Fatal(err)
	}
	stale := await(first)
	if err := p.CompareAndSwap(ctx, id, first, second); err != nil {
		t.Fatal(err)
	}
	await(second)
	// The watch stalls with the first owner in the cache (as it does when its consumer's
	// server stops): put back what it had delivered then.
	p.view.mu.Lock()
	p.view.entries[id] = stale
	p.view.mu.Unlock()
	if o, err := p.Owner(ctx, id); err != nil || o != first {
		t.Fatalf("the stalled cache: %+v, %v", o, err)
	}

	// A node that believes the owner is "gone" claims from it, and loses.
	if err := p.CompareAndSwap(ctx, id, first, Owner{Node: "n3", Epoch: 2}); !errors.Is(err, ErrStale) {
		t.Fatalf("claim from the stale owner: %v, want ErrStale", err)
	}
	if o, err := p.Owner(ctx, id); err != nil || o != second {
		t.Errorf("after the lost claim the cache says %+v (%v), want the store's %+v", o, err, second)
	}
}
