package domain_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// benchBusiness is a business of 5 staff working 08:00-21:00 six days a week and one 30-minute
// service (5 minutes' buffer after) that all of them give, bookable without notice.
func benchBusiness(b testing.TB) (s *domain.Store, svc int64, staff []int64) {
	b.Helper()
	s, _ = mustOpenStore(b, "Europe/Madrid", monday)
	mustSettings(b, s, func(st *domain.Settings) { st.MinNotice = 0 })
	sixDays := append(weekdays, time.Saturday)
	for _, name := range []string{"Ana", "Ben", "Caro", "Dani", "Eli"} {
		staff = append(staff, mustStaff(b, s, name, hours(sixDays, iv("08:00", "21:00"))))
	}
	svc = mustService(b, s, domain.Service{Duration: 30 * time.Minute, BufferAfter: 5 * time.Minute, StaffIDs: staff})
	return s, svc, staff
}

// benchSetup is the reference load: one service, 5 staff, 30 days, 2,000 bookings.
func benchSetup(b *testing.B) (*domain.Store, int64, domain.Date) {
	b.Helper()
	ctx := context.Background()
	s, svc, staff := benchBusiness(b)
	first := date("2026-06-02")
	// Starts on a 45-minute grid (08:00..20:00, 17 a day) never clash with each other, so the
	// 2,000 fit among the 26 working days x 5 staff x 17 starts.
	rng := rand.New(rand.NewPCG(1, 2))
	for made := 0; made < 2000; {
		day := first.AddDays(rng.IntN(30))
		start := day.At(8*60+45*rng.IntN(17), madrid)
		_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[rng.IntN(5)], Start: start,
			Customer: customer(made % 500), OnBehalf: true})
		if err == nil {
			made++
		}
	}
	return s, svc, first
}

// BenchmarkAvailability30Days: "anyone" availability for 30 days over 5 staff with 2,000
// bookings, through the store (SQLite reads of the window included).
func BenchmarkAvailability30Days(b *testing.B) {
	s, svc, first := benchSetup(b)
	ctx := context.Background()
	q := domain.AvailabilityQuery{ServiceID: svc, From: first, To: first.AddDays(29)}
	var slots int
	for b.Loop() {
		days, err := s.Availability(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		slots = 0
		for _, d := range days {
			slots += len(d.Slots)
		}
	}
	b.ReportMetric(float64(slots), "slots")
}

// BenchmarkAvailabilityFirstDay: a customer looks at one day of a business booked for the month
// ahead (the same 2,000 bookings): the search reads that day's bookings, not the month's.
func BenchmarkAvailabilityFirstDay(b *testing.B) {
	s, svc, first := benchSetup(b)
	ctx := context.Background()
	q := domain.AvailabilityQuery{ServiceID: svc, From: first, To: first}
	for b.Loop() {
		if _, err := s.Availability(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComputeAvailability30Days: the pure engine alone on the same shape of input.
func BenchmarkComputeAvailability30Days(b *testing.B) {
	first := date("2026-06-02")
	rng := rand.New(rand.NewPCG(1, 2))
	var cals []domain.StaffCalendar
	for i := range 5 {
		c := domain.StaffCalendar{Staff: domain.Staff{ID: int64(i + 1), Hours: hours(append(weekdays, time.Saturday), iv("08:00", "14:00"), iv("15:00", "21:00"))}}
		for range 400 {
			st := first.AddDays(rng.IntN(30)).At(8*60+15*rng.IntN(48), madrid)
			c.Busy = append(c.Busy, domain.Busy{Block: domain.Span{Start: st, End: st.Add(35 * time.Minute)}, Start: st, ServiceID: 1, Seats: 1})
		}
		cals = append(cals, c)
	}
	in := domain.AvailabilityInput{
		Service: domain.Service{ID: 1, Duration: 30 * time.Minute, BufferAfter: 5 * time.Minute, Capacity: 1},
		Step:    15 * time.Minute, Location: madrid, From: first, To: first.AddDays(29), Staff: cals,
		Earliest: monday, Latest: monday.Add(60 * 24 * time.Hour),
	}
	for b.Loop() {
		domain.ComputeAvailability(in)
	}
}

// BenchmarkBookingFlow: what a customer's booking costs the server: the day's availability, then
// the booking (the whole transaction: the slot checked again inside it, customer, event, token,
// two messages, commit with fsync), in a business of 5 staff; each takes the next free start.
func BenchmarkBookingFlow(b *testing.B) {
	ctx := context.Background()
	s, svc, staff := benchBusiness(b)
	mustSettings(b, s, func(st *domain.Settings) { st.Horizon = 730 * 24 * time.Hour })
	day, slot, n := date("2026-06-02"), 0, 0
	for b.Loop() {
		for day.Weekday() == time.Sunday {
			day = day.AddDays(1)
		}
		if _, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: svc, From: day, To: day}); err != nil {
			b.Fatal(err)
		}
		start := day.At(8*60+45*(slot/len(staff)), madrid)
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[slot%len(staff)], Start: start,
			Customer: customer(n % 500)}); err != nil {
			b.Fatal(err)
		}
		n++
		if slot++; slot == 17*len(staff) { // starts every 45 minutes (on the 15-minute grid), 08:00 to 20:00
			day, slot = day.AddDays(1), 0
		}
	}
}
