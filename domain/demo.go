package domain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// SeedDemo fills an empty business with a believable demo: a hair and wellness studio with three
// staff, three services (one of them a class) and bookings over the next two weeks. It does
// nothing if the business already has services.
func (s *Store) SeedDemo(ctx context.Context) error {
	if existing, err := s.Services(ctx, true); err != nil || len(existing) > 0 {
		return err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	st.ContactEmail, st.ContactPhone, st.Address = "hello@demo.example", "+34 910 000 000", "Calle Mayor 1, Madrid"
	if err := s.UpdateSettings(ctx, st); err != nil {
		return err
	}
	weekdays := func(ivs ...Interval) (h WeeklyHours) {
		for d := time.Monday; d <= time.Friday; d++ {
			h[d] = ivs
		}
		return h
	}
	morning, afternoon := Interval{9 * 60, 13 * 60}, Interval{14 * 60, 18 * 60}
	lucia := weekdays(morning, afternoon)
	lucia[time.Saturday] = []Interval{{10 * 60, 14 * 60}}
	staff := []Staff{
		{Name: "Lucía García", Email: "lucia@demo.example", Hours: lucia},
		{Name: "Marco Rossi", Email: "marco@demo.example", Hours: weekdays(Interval{11 * 60, 19 * 60})},
		{Name: "Aiko Tanaka", Email: "aiko@demo.example", Hours: weekdays(Interval{8 * 60, 12 * 60}, Interval{17 * 60, 20 * 60})},
	}
	var ids []int64
	for _, p := range staff {
		id, err := s.CreateStaff(ctx, p)
		if err != nil {
			return fmt.Errorf("demo staff: %w", err)
		}
		ids = append(ids, id)
	}
	room, err := s.CreateResource(ctx, "Colour station")
	if err != nil {
		return err
	}
	services := []Service{
		{Name: "Haircut", Description: "Wash, cut and style.", Duration: 30 * time.Minute,
			Price: Money{2500, st.Currency}, BufferAfter: 10 * time.Minute, Capacity: 1, StaffIDs: ids[:2]},
		{Name: "Colour", Description: "Full colour with a gloss finish.", Duration: 90 * time.Minute,
			Price: Money{7000, st.Currency}, BufferBefore: 10 * time.Minute, BufferAfter: 15 * time.Minute, Capacity: 1,
			StaffIDs: ids[:2], ResourceIDs: []int64{room}},
		{Name: "Yoga class", Description: "An hour of gentle yoga, all levels.", Duration: time.Hour,
			Price: Money{1200, st.Currency}, Capacity: 8, StaffIDs: ids[2:]},
	}
	var svcIDs []int64
	for _, svc := range services {
		id, err := s.CreateService(ctx, svc)
		if err != nil {
			return fmt.Errorf("demo service: %w", err)
		}
		svcIDs = append(svcIDs, id)
	}

	// Bookings at free slots over the next two weeks, the same every time for the same day. They are
	// made up: no confirmation goes to their made-up customers.
	names := []string{"Elena Martín", "Tom Baker", "Sofía Ruiz", "Noah Weber", "Inés López", "Liam Byrne", "Chloé Durand", "Pablo Sanz"}
	today := DateOf(s.now().In(s.loc))
	rng := rand.New(rand.NewPCG(uint64(today.Year), uint64(today.Month)*31+uint64(today.Day)))
	for i := range 40 {
		svc := svcIDs[rng.IntN(len(svcIDs))]
		day := today.AddDays(1 + rng.IntN(14))
		days, err := s.Availability(ctx, AvailabilityQuery{ServiceID: svc, From: day, To: day})
		if err != nil {
			return err
		}
		if len(days[0].Slots) == 0 {
			continue
		}
		slot := days[0].Slots[rng.IntN(len(days[0].Slots))]
		name := names[i%len(names)]
		_, _, err = s.CreateBooking(ctx, BookingRequest{
			ServiceID: svc, StaffID: slot.StaffID, Start: slot.Start, OnBehalf: true, Actor: ActorSystem, Quiet: true,
			Customer: Customer{Name: name, Email: fmt.Sprintf("customer%d@demo.example", i%len(names)), Phone: "+34 600 000 00" + fmt.Sprint(i%10)},
		})
		if err != nil && ErrorCode(err) != ESLOTUNAVAILABLE {
			return fmt.Errorf("demo booking: %w", err)
		}
	}
	return nil
}
