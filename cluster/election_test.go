package cluster_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// The controller election: of three campaigning nodes exactly one leads epoch 1; once it
// leaves, another leads epoch 2, and no epoch ever has two leaders.
func TestControllerElection(t *testing.T) {
	nodes := startCluster(t, 3)
	type event struct {
		term   cluster.Owner
		resign bool
	}
	events := make(chan event, 16)
	stops := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, tn := range nodes {
		ctx, stop := context.WithCancel(t.Context())
		stops[tn.node.ID()] = stop
		defer stop()
		office := cluster.Office{
			Lead:   func(_ context.Context, term cluster.Owner) error { events <- event{term: term}; return nil },
			Resign: func(term cluster.Owner) { events <- event{term: term, resign: true} },
		}
		wg.Go(func() {
			cluster.Campaign(ctx, tn.co, tn.node.ID(), office, testHeartbeat, slog.New(slog.DiscardHandler))
		})
	}
	next := func() event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(20 * time.Second):
			t.Fatal("no election within 20s")
			return event{}
		}
	}
	first := next()
	if first.resign || first.term.Epoch != 1 {
		t.Fatalf("first event %+v, want a lead of epoch 1", first)
	}
	var leader *testNode
	for _, tn := range nodes {
		if tn.node.ID() == first.term.Node {
			leader = tn
		}
	}
	if got, err := leader.co.Controller().Refresh(t.Context()); err != nil || got != first.term {
		t.Fatalf("controller key %+v, %v; want %+v", got, err, first.term)
	}
	// The leader leaves: its campaign ends (it resigns), its liveness key goes.
	stops[leader.node.ID()]()
	if e := next(); !e.resign || e.term != first.term {
		t.Fatalf("after the leader stopped: %+v, want its resignation", e)
	}
	if err := leader.co.Close(); err != nil {
		t.Fatal(err)
	}
	second := next()
	if second.resign || second.term.Epoch != 2 || second.term.Node == first.term.Node {
		t.Fatalf("after the leader left: %+v, want another node's lead of epoch 2", second)
	}
	for _, tn := range nodes {
		if tn != leader {
			waitFor(t, "the new controller in "+tn.node.ID()+"'s view", 5*time.Second, tn.co.Controller().Changed, func() bool {
				got, err := tn.co.Controller().Current(t.Context())
				return err == nil && got == second.term
			})
		}
	}
	select {
	case e := <-events:
		t.Errorf("a third election event: %+v", e)
	default:
	}
}
