package domain_test

import (
	"context"
	"testing"

	"github.com/reserva/reserva/domain"
)

func TestSeedDemo(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	services, _ := s.Services(ctx, false)
	staff, _ := s.StaffList(ctx, false)
	bookings, _ := s.Bookings(ctx, domain.BookingFilter{Limit: 500})
	if len(services) != 3 || len(staff) != 3 || len(bookings) < 20 {
		t.Fatalf("demo has %d services, %d staff, %d bookings", len(services), len(staff), len(bookings))
	}
	for _, b := range bookings {
		if !b.Start.After(monday) || b.Start.After(monday.AddDate(0, 0, 16)) {
			t.Errorf("booking at %s is not in the next two weeks", b.Start)
		}
	}
	// Its customers are made up: nothing is queued for them (or their staff).
	if n, err := s.OutboxBacklog(ctx); err != nil || n != 0 {
		t.Errorf("the demo queued %d messages (%v), want none", n, err)
	}
	// Seeding again changes nothing.
	if err := s.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Bookings(ctx, domain.BookingFilter{Limit: 500}); len(again) != len(bookings) {
		t.Errorf("second seed: %d bookings, want %d", len(again), len(bookings))
	}
}
