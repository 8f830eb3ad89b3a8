package jobs

import (
	"context"
	"fmt"
	"time"

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
// can give. Tenants are visited one at a time.
func Stats(ctx context.Context, m *tenancy.Manager, day time.Time) (StatsResult, error) {
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 1)
	r := StatsResult{Day: from.Format(time.DateOnly)}
	all, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	for _, t := range all {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		s := tenancy.DailyStats{TenantID: t.ID, Day: r.Day}
		err := m.Visit(ctx, t, func(l *tenancy.Lease) error {
			return l.DB.Read.QueryRowContext(ctx, `SELECT
				(SELECT count(*) FROM bookings WHERE created_at >= ?1 AND created_at < ?2),
				(SELECT count(*) FROM booking_events WHERE type = 'cancelled' AND at >= ?1 AND at < ?2),
				(SELECT count(*) FROM customers WHERE created_at < ?2)`, from.Unix(), to.Unix()).
				Scan(&s.BookingsCreated, &s.BookingsCancelled, &s.Customers)
		})
		if err == nil {
			err = m.Registry().SetStats(ctx, s)
		}
		if err != nil {
			r.Failed = append(r.Failed, t.Slug)
			continue
		}
		r.Tenants++
	}
	return r, nil
}
