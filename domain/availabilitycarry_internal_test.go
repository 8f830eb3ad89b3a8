package domain

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// A booking made, moved or cancelled drops the kept availability of the days it can change
// and keeps every other day's: a busy business's lookups of other days stay answered from
// memory. What a lookup answers after each change is what it computes afresh.
func TestBookingKeepsOtherDaysAvailability(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: "carry", Name: "Carry", Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Release()
		_ = m.Close(ctx)
		_ = reg.Close()
	})
	now := time.Date(2026, 6, 1, 6, 0, 0, 0, l.Location)
	s := NewCachedStore(l.DB, l.Location, func() time.Time { return now })
	fresh := NewStore(l.DB.Write, l.DB.Read, l.Location, func() time.Time { return now }) // keeps nothing
	var h WeeklyHours
	for d := time.Monday; d <= time.Friday; d++ {
		h[d] = []Interval{{Start: 9 * 60, End: 17 * 60}}
	}
	ana, err := s.CreateStaff(ctx, Staff{Name: "Ana", Hours: h})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.CreateService(ctx, Service{Name: "Cut", Duration: time.Hour, BufferAfter: 15 * time.Minute, Capacity: 1,
		Price: Money{Amount: 100, Currency: "EUR"}, StaffIDs: []int64{ana}})
	if err != nil {
		t.Fatal(err)
	}
	tue, wed, nextTue := Date{2026, time.June, 2}, Date{2026, time.June, 3}, Date{2026, time.June, 9}
	days := []Date{tue, wed, nextTue}
	// lookAll asks for each day (keeping it) and checks the answer against one computed afresh.
	lookAll := func(when string) {
		t.Helper()
		for _, d := range days {
			q := AvailabilityQuery{ServiceID: svc, From: d, To: d}
			got, err := s.Availability(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Availability(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got[0].Slots, want[0].Slots, func(a, b Slot) bool { return a.Start.Equal(b.Start) && a.StaffID == b.StaffID }) {
				t.Fatalf("%s: %s answered %d slots, %d computed afresh", when, d, len(got[0].Slots), len(want[0].Slots))
			}
		}
	}
	// keptDays are the days kept for the current version.
	keptDays := func() []Date {
		s.avail.mu.Lock()
		defer s.avail.mu.Unlock()
		s.avail.moveTo(l.DB.Version())
		var out []Date
		for _, d := range days {
			if _, ok := s.avail.days[dayKey{service: svc, seats: 1, date: d, zone: l.Location.String()}]; ok {
				out = append(out, d)
			}
		}
		return out
	}
	check := func(when string, want ...Date) {
		t.Helper()
		if got := keptDays(); !slices.Equal(got, want) {
			t.Errorf("%s: kept days %v, want %v", when, got, want)
		}
		lookAll(when)
	}

	lookAll("before any booking")
	check("after the lookups", days...)
	b, _, err := s.CreateBooking(ctx, BookingRequest{ServiceID: svc, Start: tue.At(10*60, l.Location), Customer: Customer{Name: "C", Email: "c@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	// Tuesday is the booking's day, Wednesday within a day of it; next Tuesday is kept.
	check("after a booking on Tuesday", nextTue)
	if _, err := s.Move(ctx, b.ID, nextTue.At(11*60, l.Location), ana, ActorSystem); err != nil {
		t.Fatal(err)
	}
	check("after moving it to next Tuesday") // from Tuesday to next Tuesday: both, and Wednesday
	if _, err := s.Cancel(ctx, b.ID, "", ActorCustomer); err != nil {
		t.Fatal(err)
	}
	check("after cancelling it", tue, wed)
	// Any other commit drops every day.
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE staff SET name = 'Ana B' WHERE id = ?`, ana); err != nil {
		t.Fatal(err)
	}
	check("after another write")
}
