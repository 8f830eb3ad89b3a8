package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/reserva/reserva/domain"
)

// eventRecheckInterval is how often a subscription looks for booking events with no commit
// to wake it: events are rows in the tenant's own database, and a process other than this server
// (the CLI) may write them. This server's own commits wake it at once.
const eventRecheckInterval = 5 * time.Second

// eventBatch is how many events one read takes.
const eventBatch = 100

// followEvents sends every booking event newer than the moment of subscribing, until ctx ends
// or stillAllowed fails (checked before each read). It reads after each commit that
// nextCommit announces (nil: none is announced), and every recheck in any case.
func followEvents(ctx context.Context, s *domain.Store, nextCommit func() <-chan struct{}, recheck time.Duration, stillAllowed func() error) (<-chan *domain.Event, error) {
	last, err := s.LastEventID(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan *domain.Event, 16)
	go func() {
		defer close(ch)
		t := time.NewTicker(recheck)
		defer t.Stop()
		for {
			var committed <-chan struct{}
			if nextCommit != nil {
				committed = nextCommit() // before reading, so that no commit is missed
			}
			for {
				if err := stillAllowed(); err != nil {
					endOperation(ctx, err) // the client is told why (UNAUTHENTICATED), not just complete
					return
				}
				events, err := s.EventsAfter(ctx, last, eventBatch)
				if err != nil {
					if ctx.Err() == nil {
						slog.ErrorContext(ctx, "follow booking events", "err", err)
					}
					return
				}
				for i := range events {
					select {
					case ch <- &events[i]:
						last = events[i].ID
					case <-ctx.Done():
						return
					}
				}
				if len(events) < eventBatch {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-committed:
			case <-t.C:
			}
		}
	}()
	return ch, nil
}
