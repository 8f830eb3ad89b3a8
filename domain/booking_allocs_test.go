package domain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A customer's booking, transaction and mails included, stays within an allocation budget: the
// mails take the service, staff member and settings from the catalog the slot was checked
// against instead of reading them again in the transaction. Before, a booking took 808
// allocations.
func TestCreateBookingAllocationBudget(t *testing.T) {
	ctx := context.Background()
	s, svc, staff := benchBusiness(t)
	mustSettings(t, s, func(st *domain.Settings) { st.Horizon = 730 * 24 * time.Hour })
	day, slot, n := date("2026-06-02"), 0, 0
	book := func() {
		for day.Weekday() == time.Sunday {
			day = day.AddDays(1)
		}
		start := day.At(8*60+45*(slot/len(staff)), madrid)
		b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[slot%len(staff)], Start: start,
			Customer: customer(n % 50)})
		if err != nil {
			t.Fatal(err)
		}
		if !b.Start.Equal(start) {
			t.Fatalf("booked %v, want %v", b.Start, start)
		}
		n++
		if slot++; slot == 17*len(staff) {
			day, slot = day.AddDays(1), 0
		}
	}
	// A page view reads the catalog and keeps it; each booking's commit carries it on.
	if _, err := s.Services(ctx, false); err != nil {
		t.Fatal(err)
	}
	book()
	const budget = 700
	if got := testing.AllocsPerRun(100, book); got > budget {
		t.Errorf("%.0f allocations a booking, budget %d", got, budget)
	}
	// The mails went out as before: each booking's customer is told its service and its staff
	// member by name.
	msgs, err := s.DueMessages(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	services, err := s.Services(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for _, id := range staff {
		st, err := s.StaffMember(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		names[id] = st.Name
	}
	customers := 0
	for _, m := range msgs {
		if m.Kind != domain.KindBookingCreated {
			continue
		}
		customers++
		b, err := s.Booking(ctx, m.BookingID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Body, names[b.StaffID]) || !strings.Contains(m.Body, services[0].Name) || m.To != b.Contact.Email {
			t.Fatalf("booking %d's mail to %s (customer %s): %q", b.ID, m.To, b.Contact.Email, m.Body)
		}
	}
	if customers != n {
		t.Errorf("%d customer mails for %d bookings", customers, n)
	}
}
