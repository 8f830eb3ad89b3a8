package domain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// dueByKind claims the due messages of s, by kind.
func dueByKind(t *testing.T, s *domain.Store) map[domain.MessageKind]domain.Message {
	t.Helper()
	msgs, err := s.DueMessages(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[domain.MessageKind]domain.Message{}
	for _, m := range msgs {
		out[m.Kind] = m
	}
	return out
}

// A booking made less than the reminder's lead time before it starts gets no reminder: its
// confirmation has just gone out. One made earlier gets its reminder.
func TestNoReminderForLastMinuteBooking(t *testing.T) {
	ctx := context.Background()
	s, clock := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Name: "Cut", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	early, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-03"), "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(at(date("2026-06-02"), "16:00")) // 18 hours before the early booking
	late, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-03"), "09:00"), Customer: customer(2)})
	if err != nil {
		t.Fatal(err)
	}
	dueByKind(t, s)
	n, err := s.QueueReminders(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reminders := dueByKind(t, s)
	if n != 1 || reminders[domain.KindBookingReminder].BookingID != early.ID {
		t.Errorf("%d reminders, for booking %d; want 1, for %d (not %d, booked 17 hours ahead)",
			n, reminders[domain.KindBookingReminder].BookingID, early.ID, late.ID)
	}
}

// The outbox's bookkeeping (claims, sent and retry marks) commits without waiting for the disk,
// and leaves the writer as it found it: a booking made after it still commits with
// synchronous=FULL (a writer left at NORMAL would lose acknowledged bookings in a power cut).
func TestOutboxBookkeepingLeavesWriterDurable(t *testing.T) {
	ctx := context.Background()
	l := mustOpenLease(t, "Europe/Madrid")
	clock := &clock{t: monday}
	s := domain.NewCachedStore(l.DB, l.Location, clock.Now)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Name: "Cut", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	synchronous := func() int {
		t.Helper()
		var n int
		if err := l.DB.Write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const full = 2
	if got := synchronous(); got != full {
		t.Fatalf("the writer starts with synchronous=%d, want %d (FULL)", got, full)
	}
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-03"), "10:00"), Customer: customer(1)}); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.DueMessages(ctx, 10)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("due messages after a booking: %d, %v", len(msgs), err)
	}
	if err := s.MessageSent(ctx, msgs[0].ID); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[1:] {
		if err := s.MessageFailed(ctx, m, errors.New("mail server said no")); err != nil {
			t.Fatal(err)
		}
	}
	if got := synchronous(); got != full {
		t.Errorf("after the outbox's bookkeeping the writer has synchronous=%d, want %d (FULL)", got, full)
	}
	if n, err := s.OutboxBacklog(ctx); err != nil || n != len(msgs)-1 {
		t.Errorf("backlog after one sent of %d: %d, %v; want %d (the marks are kept)", len(msgs), n, err, len(msgs)-1)
	}
	// A cancelled context does not leave the writer at NORMAL either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.MessageSent(cctx, msgs[0].ID); err == nil {
		t.Error("a mark with a cancelled context succeeded")
	}
	if got := synchronous(); got != full {
		t.Errorf("after a cancelled mark the writer has synchronous=%d, want %d (FULL)", got, full)
	}
}
