package domain_test

import (
	"context"
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
