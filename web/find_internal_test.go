package web

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Only one "sign in to your business" look-up (which opens every business) runs at a time; a
// second waits at most its bound and is refused, and the slot comes back when the first ends.
func TestFindOneLookUpAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{findOne: make(chan struct{}, 1)}
		ctx := context.Background()
		if !s.findTurn(ctx, time.Second) {
			t.Fatal("the first look-up found the slot taken")
		}
		start := time.Now()
		if s.findTurn(ctx, findTurnWait) {
			t.Fatal("a second look-up ran beside the first")
		}
		if d := time.Since(start); d != findTurnWait {
			t.Errorf("refused after %s, want %s", d, findTurnWait)
		}
		<-s.findOne // the first look-up ends
		if !s.findTurn(ctx, time.Second) {
			t.Fatal("the slot was not given back")
		}
	})
}
