package domain

import (
	"context"
	"fmt"
	"time"
)

// DailyCounts are a business's counts for one span of time (a UTC day in the stats job).
type DailyCounts struct {
	BookingsCreated   int // bookings made in the span
	BookingsCancelled int // cancellations recorded in the span
	Customers         int // all customers made before the span's end
}

// DailyCounts counts the bookings created and cancelled in [from, to) and the customers that
// existed at to.
func (s *Store) DailyCounts(ctx context.Context, from, to time.Time) (DailyCounts, error) {
	var c DailyCounts
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM bookings WHERE created_at >= ?1 AND created_at < ?2),
		(SELECT count(*) FROM booking_events WHERE type = ?3 AND at >= ?1 AND at < ?2),
		(SELECT count(*) FROM customers WHERE created_at < ?2)`, from.Unix(), to.Unix(), EventCancelled).
		Scan(&c.BookingsCreated, &c.BookingsCancelled, &c.Customers)
	if err != nil {
		return c, fmt.Errorf("count bookings and customers: %w", err)
	}
	return c, nil
}
