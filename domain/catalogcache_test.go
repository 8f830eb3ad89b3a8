package domain_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// The kept catalog is never stale: a change is seen by the next read, whether it was made by
// another request's Store, by a write that bypasses the Store, or while readers are reading.
func TestCatalogCacheSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	l := mustOpenLease(t, "Europe/Madrid")
	open := func() *domain.Store {
		return domain.NewCachedStore(l.DB, l.Location, time.Now)
	}
	a := open()
	if err := a.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	name := func(s *domain.Store) string {
		t.Helper()
		svc, err := s.Service(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return svc.Name
	}
	first := name(a)

	// Another request renames the service: this one's next read sees it.
	b := open()
	svc, _ := b.Service(ctx, 1)
	svc.Name = "Renamed by B"
	if err := b.UpdateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if got := name(a); got != "Renamed by B" {
		t.Fatalf("after another store's update: %q (was %q)", got, first)
	}

	// A write straight through the writer connection, as a job or migration would make.
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE services SET name = 'Renamed in SQL' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if got := name(a); got != "Renamed in SQL" {
		t.Fatalf("after a write outside the Store: %q", got)
	}
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE settings SET address = 'Calle Nueva 1'`); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Settings(ctx); st.Address != "Calle Nueva 1" {
		t.Fatalf("settings after a write: address %q", st.Address)
	}
	// A rolled back transaction changes nothing, and reads stay right.
	tx, _ := l.DB.Write.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `UPDATE services SET name = 'Never' WHERE id = 1`)
	tx.Rollback()
	if got := name(a); got != "Renamed in SQL" {
		t.Fatalf("after a rollback: %q", got)
	}

	// Readers race a stream of renames: once the writer is done, everyone sees the last one.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			s := open()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Services(ctx, false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 50 {
		if _, err := l.DB.Write.ExecContext(ctx, `UPDATE services SET name = ? WHERE id = 1`, fmt.Sprint("Name ", i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for _, s := range []*domain.Store{a, b, open()} {
		if got := name(s); got != "Name 49" {
			t.Fatalf("after the race: %q, want Name 49", got)
		}
	}
}

// A booking checks its time against the kept catalog only while nothing was committed since it
// was read: a change of hours or an archived service made after a customer looked (by another
// request, or straight through the writer) still refuses the booking.
func TestBookingSeesCatalogChangesMadeAfterTheLookup(t *testing.T) {
	ctx := context.Background()
	l := mustOpenLease(t, "Europe/Madrid")
	open := func() *domain.Store {
		return domain.NewCachedStore(l.DB, l.Location, func() time.Time { return monday })
	}
	s := open()
	mustSettings(t, s, func(st *domain.Settings) { st.MinNotice = 0 })
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "17:00")))
	svc := mustService(t, s, domain.Service{Duration: time.Hour, StaffIDs: []int64{ana}})
	day := date("2026-06-02") // a Tuesday
	look := func() {
		t.Helper()
		if _, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: svc, From: day, To: day}); err != nil {
			t.Fatal(err)
		}
	}
	book := func(hhmm string) error {
		_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, Start: at(day, hhmm), Customer: customer(1)})
		return err
	}

	// The customer looks (the catalog is kept), then another request shortens Ana's day to 12:00.
	look()
	other := open()
	st, err := other.StaffMember(ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	st.Hours = hours(weekdays, iv("09:00", "12:00"))
	if err := other.UpdateStaff(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := book("15:00"); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
		t.Errorf("booking 15:00 after Ana's day was cut to 12:00: %v, want %s", err, domain.ESLOTUNAVAILABLE)
	}
	if err := book("10:00"); err != nil {
		t.Errorf("booking 10:00, within the new hours: %v", err)
	}

	// The customer looks again, then the service is archived straight through the writer.
	look()
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE services SET active = 0 WHERE id = ?`, svc); err != nil {
		t.Fatal(err)
	}
	if err := book("11:00"); err == nil {
		t.Error("booking an archived service succeeded")
	}
}
