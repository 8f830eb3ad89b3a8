package domain_test

import (
	"context"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A new business may add its services before its staff: the service is stored with nobody
// offering it, its days are closed (not an error), and once a staff member is chosen it is
// bookable.
func TestServiceBeforeStaff(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	s, _ := mustOpenStore(t, "Europe/Madrid", now)
	svc := domain.Service{Name: "Haircut", Duration: 30 * time.Minute, Capacity: 1, Active: true,
		Price: domain.Money{Amount: 2000, Currency: "EUR"}}
	id, err := s.CreateService(ctx, svc)
	if err != nil {
		t.Fatalf("a service before any staff: %v", err)
	}
	day := domain.DateOf(now).AddDays(2)
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: id, From: day, To: day})
	if err != nil || len(days) != 1 || days[0].Status != domain.DayClosed || len(days[0].Slots) != 0 {
		t.Fatalf("availability of a service nobody offers: %v %+v", err, days)
	}
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	staffID, err := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Hours: h})
	if err != nil {
		t.Fatal(err)
	}
	svc.ID, svc.StaffIDs = id, []int64{staffID}
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if days, err = s.Availability(ctx, domain.AvailabilityQuery{ServiceID: id, From: day, To: day}); err != nil || days[0].Status != domain.DayOpen {
		t.Errorf("availability once Ana offers it: %v %+v", err, days)
	}
}
