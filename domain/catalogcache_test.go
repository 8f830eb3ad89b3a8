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
	if _, err := tx.ExecContext(ctx, `UPDATE services SET name = 'Never' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
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

// Every write the Store makes moves the database's version, so the catalog kept by any Store of
// the business is read again: each mutation is made after the catalog was read (and kept), and
// its effect must show through the same cached Store at once. A new staff member, created with
// an INSERT … RETURNING, was "not found" until some other kind of write.
func TestCatalogCacheSeesEveryMutation(t *testing.T) {
	ctx := context.Background()
	l := mustOpenLease(t, "Europe/Madrid")
	s := domain.NewCachedStore(l.DB, l.Location, func() time.Time { return monday })
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "17:00")))
	cut := mustService(t, s, domain.Service{Duration: time.Hour, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	var (
		newStaff, newService, newResource, timeOff int64
		user                                       domain.User
	)
	staffHas := func(id int64, name string) error {
		st, err := s.StaffMember(ctx, id)
		if err != nil {
			return err
		}
		if st.Name != name {
			return fmt.Errorf("staff member %d is %q, want %q", id, st.Name, name)
		}
		list, err := s.StaffList(ctx, false)
		if err != nil {
			return err
		}
		for _, st := range list {
			if st.ID == id {
				return nil
			}
		}
		return fmt.Errorf("staff list %v lacks %d", list, id)
	}
	serviceIs := func(id int64, check func(domain.Service) bool) error {
		svc, err := s.Service(ctx, id)
		if err != nil {
			return err
		}
		if !check(svc) {
			return fmt.Errorf("service %d is %+v", id, svc)
		}
		return nil
	}
	slotsOf := func(staffID int64) (int, error) {
		days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: cut, StaffID: staffID, From: tue, To: tue})
		if err != nil {
			return 0, err
		}
		return len(days[0].Slots), nil
	}
	wantSlots := func(staffID int64, want int) error {
		n, err := slotsOf(staffID)
		if err == nil && n != want {
			err = fmt.Errorf("%d slots on Tuesday, want %d", n, want)
		}
		return err
	}
	cases := []struct {
		name   string
		mutate func() error
		check  func() error
	}{
		{"CreateStaff", func() (err error) {
			newStaff, err = s.CreateStaff(ctx, domain.Staff{Name: "Ben", Hours: hours(weekdays, iv("09:00", "12:00"))})
			return err
		}, func() error { return staffHas(newStaff, "Ben") }},
		{"UpdateStaff", func() error {
			return s.UpdateStaff(ctx, domain.Staff{ID: newStaff, Name: "Benito", Active: true, Hours: hours(weekdays, iv("09:00", "11:00"))})
		}, func() error { return staffHas(newStaff, "Benito") }},
		{"CreateService", func() (err error) {
			newService, err = s.CreateService(ctx, domain.Service{Name: "Shave", Duration: 30 * time.Minute, Capacity: 1,
				Price: domain.Money{Amount: 900, Currency: "EUR"}, StaffIDs: []int64{newStaff}})
			return err
		}, func() error {
			return serviceIs(newService, func(svc domain.Service) bool { return svc.Name == "Shave" })
		}},
		{"CreateResource", func() (err error) {
			newResource, err = s.CreateResource(ctx, "Chair")
			return err
		}, func() error {
			rs, err := s.Resources(ctx)
			if err == nil && (len(rs) != 1 || rs[0].ID != newResource) {
				err = fmt.Errorf("resources %v, want the chair %d", rs, newResource)
			}
			return err
		}},
		{"UpdateService", func() error {
			return s.UpdateService(ctx, domain.Service{ID: newService, Name: "Hot shave", Duration: 30 * time.Minute, Capacity: 1, Active: true,
				Price: domain.Money{Amount: 900, Currency: "EUR"}, StaffIDs: []int64{newStaff}, ResourceIDs: []int64{newResource}})
		}, func() error {
			return serviceIs(newService, func(svc domain.Service) bool {
				return svc.Name == "Hot shave" && len(svc.ResourceIDs) == 1 && svc.ResourceIDs[0] == newResource
			})
		}},
		{"ArchiveService", func() error { return s.ArchiveService(ctx, newService) },
			func() error { return serviceIs(newService, func(svc domain.Service) bool { return !svc.Active }) }},
		{"UpdateSettings", func() error {
			st, err := s.Settings(ctx)
			if err != nil {
				return err
			}
			st.Address = "Calle Mayor 1"
			return s.UpdateSettings(ctx, st)
		}, func() error {
			st, err := s.Settings(ctx)
			if err == nil && st.Address != "Calle Mayor 1" {
				err = fmt.Errorf("address %q", st.Address)
			}
			return err
		}},
		{"SetBrandColor", func() error { return s.SetBrandColor(ctx, "#123456") }, func() error {
			b, err := s.Branding(ctx)
			if err == nil && b.Color != "#123456" {
				err = fmt.Errorf("colour %q", b.Color)
			}
			return err
		}},
		{"SetLogo", func() error { return s.SetLogo(ctx, "image/png", 7) }, func() error {
			b, err := s.Branding(ctx)
			if err == nil && (b.LogoType != "image/png" || b.LogoVersion != 7) {
				err = fmt.Errorf("logo %q version %d", b.LogoType, b.LogoVersion)
			}
			return err
		}},
		// Hours, overrides and time off reach availability, through the kept staff list or not.
		{"SetDateOverride", func() error {
			return s.SetDateOverride(ctx, domain.DateOverride{StaffID: ana, Date: tue, Intervals: []domain.Interval{iv("09:00", "11:00")}})
		}, func() error { return wantSlots(ana, 5) }},
		{"AddTimeOff", func() (err error) {
			timeOff, err = s.AddTimeOff(ctx, domain.TimeOff{StaffID: ana, Start: at(tue, "09:00"), End: at(tue, "10:00")})
			return err
		}, func() error { return wantSlots(ana, 1) }},
		{"DeleteTimeOff", func() error { return s.DeleteTimeOff(ctx, timeOff) }, func() error { return wantSlots(ana, 5) }},
		{"DeleteDateOverride", func() error { return s.DeleteDateOverride(ctx, ana, tue) }, func() error { return wantSlots(ana, 29) }},
		// Not in the catalog, but the version's promise is every commit.
		{"CreateUser", func() (err error) {
			user, err = s.CreateUser(ctx, domain.NewUser{Email: "ben@example.com", Name: "Ben", Password: "correct horse battery", Role: domain.RoleStaff, StaffID: newStaff})
			return err
		}, func() error { _, err := s.User(ctx, user.ID); return err }},
		{"CreateAPIToken", func() error {
			_, _, err := s.CreateAPIToken(ctx, "ci", domain.RoleStaff, user.ID)
			return err
		}, func() error { return nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Read (and keep) everything the catalog holds, and the day's availability.
			if _, err := s.StaffList(ctx, true); err != nil {
				t.Fatal(err)
			}
			if _, err := slotsOf(ana); err != nil {
				t.Fatal(err)
			}
			before := l.DB.Version()
			if err := c.mutate(); err != nil {
				t.Fatal(err)
			}
			if after := l.DB.Version(); after == before {
				t.Errorf("the version stayed at %d", before)
			}
			if err := c.check(); err != nil {
				t.Error(err)
			}
		})
	}
}
