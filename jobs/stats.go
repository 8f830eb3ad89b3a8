package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// StatsResult is what one stats run did.
type StatsResult struct {
	Day     string
	Tenants int
	Failed  []string
}

func (r StatsResult) String() string {
	return fmt.Sprintf("%s: %d tenants counted, %d failed %v", r.Day, r.Tenants, len(r.Failed), r.Failed)
}

// Stats counts, for every tenant, the bookings created and cancelled on day (UTC) and its
// customers, and records them in the registry: the cross-tenant view no single tenant database
// can give. Tenants are visited one at a time; one that fails does not stop the others, and
// the failures are returned joined so that the run counts as failed.
func Stats(ctx context.Context, m *tenancy.Manager, day time.Time) (StatsResult, error) {
	return stats(ctx, m, day, nil)
}

// stats is Stats over the tenants owns has.
func stats(ctx context.Context, m *tenancy.Manager, day time.Time, owns Owns) (StatsResult, error) {
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 1)
	r := StatsResult{Day: from.Format(time.DateOnly)}
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	var failed []error
	for _, t := range all {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if !owns.has(ctx, t.ID) {
			continue
		}
		s := tenancy.DailyStats{TenantID: t.ID, Day: r.Day}
		err := m.Visit(ctx, t, func(l *tenancy.Lease) error {
			c, err := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).DailyCounts(ctx, from, to)
			s.BookingsCreated, s.BookingsCancelled, s.Customers = c.BookingsCreated, c.BookingsCancelled, c.Customers
			return err
		})
		if err == nil {
			err = m.Registry().SetStats(ctx, s)
		}
		if err != nil {
			r.Failed = append(r.Failed, t.Slug)
			failed = append(failed, fmt.Errorf("count tenant %s: %w", t.Slug, err))
			continue
		}
		r.Tenants++
	}
	return r, errors.Join(failed...)
}
