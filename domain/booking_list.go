package domain

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// BookingFilter selects bookings for lists and calendars.
type BookingFilter struct {
	From, To   time.Time // bookings starting in [From, To); zero = unbounded
	Status     Status    // "" = any
	StaffID    int64
	CustomerID int64
	Limit      int // default 100, at most 500
	// After is a keyset cursor: only bookings after this (start, id) position, in that order.
	// Take it from the last booking of the previous page (Booking.Cursor).
	After *Cursor
}

// Cursor is a position in the (start, id) order of bookings.
type Cursor struct {
	Start time.Time
	ID    int64
}

// Cursor is b's position, for BookingFilter.After.
func (b Booking) Cursor() Cursor { return Cursor{Start: b.Start, ID: b.ID} }

// Bookings lists bookings matching f in start order.
func (s *Store) Bookings(ctx context.Context, f BookingFilter) ([]Booking, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, Invalid("status", "unknown status %q", f.Status)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	where := []string{"1 = 1"}
	var args []any
	if !f.From.IsZero() {
		where, args = append(where, "start_at >= ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		where, args = append(where, "start_at < ?"), append(args, f.To.Unix())
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.StaffID != 0 {
		where, args = append(where, "staff_id = ?"), append(args, f.StaffID)
	}
	if f.CustomerID != 0 {
		where, args = append(where, "customer_id = ?"), append(args, f.CustomerID)
	}
	if f.After != nil {
		where = append(where, "(start_at, id) > (?, ?)")
		args = append(args, f.After.Start.Unix(), f.After.ID)
	}
	return all(ctx, s.r, "list bookings", scanBooking, `SELECT `+bookingColumns+` FROM bookings WHERE `+strings.Join(where, " AND ")+
		` ORDER BY start_at, id LIMIT ?`, append(args, f.Limit)...)
}

// Events returns the audit trail of booking id, oldest first.
func (s *Store) Events(ctx context.Context, id int64) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, booking_id, type, actor, data, at FROM booking_events
		WHERE booking_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("booking events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &e.BookingID, &e.Type, &e.Actor, &e.Data, &at); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventsAfter returns up to limit audit events with ids above afterID, oldest first: the feed
// of live booking changes.
func (s *Store) EventsAfter(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	var out []Event
	err := each(ctx, s.r, func(rows *sql.Rows) error {
		var e Event
		var at int64
		err := rows.Scan(&e.ID, &e.BookingID, &e.Type, &e.Actor, &e.Data, &at)
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
		return err
	}, `SELECT id, booking_id, type, actor, data, at FROM booking_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	return out, err
}

// LastEventID is the id of the newest audit event (0 when there is none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM booking_events`).Scan(&id)
	return id, err
}
