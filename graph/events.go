package graph

import (
	"context"
	"log/slog"
	"time"

	"github.com/reserva/reserva/domain"
)

// eventPollInterval is how often a subscription looks for new booking events. Events are rows
// in the tenant's own database, so any process that writes them (server, CLI, jobs) is seen.
const eventPollInterval = 250 * time.Millisecond

// followEvents sends every booking event newer than the moment of subscribing, until ctx ends
// or stillAllowed fails (checked before each batch).
func followEvents(ctx context.Context, s *domain.Store, every time.Duration, stillAllowed func() error) (<-chan *domain.Event, error) {
	last, err := s.LastEventID(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan *domain.Event, 16)
	go func() {
		defer close(ch)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := stillAllowed(); err != nil {
				return
			}
			events, err := s.EventsAfter(ctx, last, 100)
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
		}
	}()
	return ch, nil
}
