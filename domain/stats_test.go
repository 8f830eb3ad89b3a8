package domain_test

import (
	"context"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// DailyCounts counts what happened inside its span only, and every customer made before its end.
func TestDailyCounts(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	wed := date("2026-06-03")
	book := func(n int, start string) domain.Booking {
		t.Helper()
		b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(wed, start), Customer: customer(n)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	book(0, "09:00") // the day before the counted one
	clk.Set(monday.Add(24 * time.Hour))
	from := clk.Now()
	first := book(1, "10:00")
	book(2, "11:00")
	if _, err := s.Cancel(ctx, first.ID, "ill", "staff:Ana"); err != nil {
		t.Fatal(err)
	}
	to := from.Add(24 * time.Hour)
	clk.Set(to)
	book(3, "12:00") // after the span

	got, err := s.DailyCounts(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.DailyCounts{BookingsCreated: 2, BookingsCancelled: 1, Customers: 3}
	if got != want {
		t.Errorf("DailyCounts = %+v, want %+v", got, want)
	}
}
