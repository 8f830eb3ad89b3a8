package domain_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A booking's own time is free to move it to (the move leaves it out), while every other
// booking still blocks; plain availability still counts it as busy.
func TestRescheduleAvailabilityLeavesOutTheMovedBooking(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	s, _ := mustOpenStore(t, "Europe/Madrid", now)
	loc := s.Location()
	ana := mustStaff(t, s, "Ana", hours(everyDay, iv("09:00", "12:00")))
	svc := mustService(t, s, domain.Service{Name: "Cut", Duration: time.Hour, Capacity: 1, StaffIDs: []int64{ana}})
	day := date("2026-03-05")
	_, token, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, Start: day.At(9*60, loc), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, Start: day.At(11*60, loc), Customer: customer(2)}); err != nil {
		t.Fatal(err)
	}
	q := domain.AvailabilityQuery{ServiceID: svc, From: day, To: day}
	plain, err := s.Availability(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := starts(plain[0], loc); !slices.Equal(got, []string{"10:00"}) {
		t.Errorf("availability %v, want [10:00]", got)
	}
	moving, err := s.RescheduleAvailability(ctx, token, q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := starts(moving[0], loc), []string{"09:00", "09:15", "09:30", "09:45", "10:00"}; !slices.Equal(got, want) {
		t.Errorf("availability to move the 09:00 booking %v, want %v", got, want)
	}
	if _, err := s.RescheduleAvailability(ctx, domain.ManageToken("not-a-token-of-this-business-at-all-x"), q); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("a bad token: %v, want ENOTFOUND", err)
	}
}

// Days after the booking horizon are Later (not open yet), whatever their hours; days within
// it are not.
func TestAvailabilityMarksDaysPastTheHorizon(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	s, _ := mustOpenStore(t, "Europe/Madrid", now)
	ana := mustStaff(t, s, "Ana", hours(everyDay, iv("09:00", "12:00")))
	svc := mustService(t, s, domain.Service{Name: "Cut", Duration: time.Hour, Capacity: 1, StaffIDs: []int64{ana}})
	mustSettings(t, s, func(st *domain.Settings) { st.Horizon = 3 * 24 * time.Hour })
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: svc, From: date("2026-03-03"), To: date("2026-03-08")})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		later := date("2026-03-05").Before(d.Date) // the horizon ends on 5 March at 09:00 Madrid
		if d.Later != later || (later && d.Status != domain.DayClosed) {
			t.Errorf("%s: Later %v status %s, want Later %v", d.Date, d.Later, d.Status, later)
		}
	}
}
