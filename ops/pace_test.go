package ops

import (
	"context"
	"errors"
	"testing"
	"time"
)

// spin keeps a core busy for d, as bulk work does.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// Work paced at a quarter of a core rests three times as long as it works.
func TestPacerKeepsToItsShare(t *testing.T) {
	ctx := context.Background()
	p := newPacer(0.25)
	start := time.Now()
	for range 40 {
		spin(500 * time.Microsecond)
		if err := p.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 20 ms of work: at least 18 ms of it in whole stretches, each followed by 3 times its
	// length of rest.
	if wall := time.Since(start); wall < 20*time.Millisecond+3*18*time.Millisecond {
		t.Errorf("20 ms of work at a quarter share took %v", wall)
	}
}

// A cancelled request stops its bulk work at the next rest.
func TestPacerStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := newPacer(0.01)
	spin(3 * time.Millisecond)
	cancel()
	start := time.Now()
	if err := p.Step(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Step after cancel: %v", err)
	}
	if waited := time.Since(start); waited > 100*time.Millisecond {
		t.Errorf("Step rested %v after the request was cancelled", waited)
	}
}
