package domain_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// render writes days as text, for comparing two answers and showing how they differ.
func render(days []domain.Day) string {
	var b strings.Builder
	for _, d := range days {
		fmt.Fprintf(&b, "%s %s:", d.Date, d.Status)
		for _, s := range d.Slots {
			fmt.Fprintf(&b, " %s-%s/%d/%d", s.Start.Format("15:04"), s.End.Format("15:04"), s.StaffID, s.SeatsLeft)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// cacheFixture is a business with two staff members and a service, a cached Store over it and a
// Store that computes every answer afresh, both on one settable clock.
type cacheFixture struct {
	lease         *tenancy.Lease
	cached, fresh *domain.Store
	clk           *clock
	ana, ben, svc int64
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	l := mustOpenLease(t, "Europe/Madrid")
	clk := &clock{t: monday}
	f := &cacheFixture{lease: l, clk: clk}
	f.cached = domain.NewCachedStore(l.DB, l.Location, clk.Now)
	f.fresh = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, clk.Now)
	mustSettings(t, f.cached, func(st *domain.Settings) { st.MinNotice = 30 * time.Minute; st.Horizon = 3 * 24 * time.Hour })
	f.ana = mustStaff(t, f.cached, "Ana", hours(weekdays, iv("09:00", "13:00"), iv("14:00", "18:00")))
	f.ben = mustStaff(t, f.cached, "Ben", hours(weekdays, iv("10:00", "14:00")))
	f.svc = mustService(t, f.cached, domain.Service{Duration: 45 * time.Minute, BufferAfter: 15 * time.Minute, StaffIDs: []int64{f.ana, f.ben}})
	return f
}

// check asks both Stores for the week, for anyone and for each staff member, and fails when the
// cached answer differs from the fresh one. It returns the cached answers.
func (f *cacheFixture) check(t *testing.T, when string) string {
	t.Helper()
	ctx := context.Background()
	var all strings.Builder
	for _, staff := range []int64{0, f.ana, f.ben} {
		q := domain.AvailabilityQuery{ServiceID: f.svc, StaffID: staff, From: date("2026-06-01"), To: date("2026-06-07")}
		got, err := f.cached.Availability(ctx, q)
		if err != nil {
			t.Fatalf("%s: cached: %v", when, err)
		}
		want, err := f.fresh.Availability(ctx, q)
		if err != nil {
			t.Fatalf("%s: fresh: %v", when, err)
		}
		if g, w := render(got), render(want); g != w {
			t.Fatalf("%s: staff %d: the cached answer differs from a fresh one:\ncached:\n%s\nfresh:\n%s", when, staff, g, w)
		}
		all.WriteString(render(got))
	}
	return all.String()
}

// A kept answer is never served once a commit changed it: each change below is made after the
// answers were kept (by another Store, or straight through the writer), and the next answer must
// be the one computed afresh.
func TestAvailabilityCacheNeverServesAChangedAnswer(t *testing.T) {
	ctx := context.Background()
	f := newCacheFixture(t)
	other := domain.NewCachedStore(f.lease.DB, f.lease.Location, f.clk.Now)
	tue := date("2026-06-02")
	var booked domain.Booking
	changes := []struct {
		name   string
		change func() error
	}{
		{"a booking", func() (err error) {
			booked, _, err = other.CreateBooking(ctx, domain.BookingRequest{ServiceID: f.svc, StaffID: f.ana, Start: at(tue, "09:00"), Customer: customer(1)})
			return err
		}},
		{"a cancellation", func() error {
			_, err := other.Cancel(ctx, booked.ID, "", domain.ActorCustomer)
			return err
		}},
		{"time off", func() error {
			_, err := other.AddTimeOff(ctx, domain.TimeOff{StaffID: f.ben, Start: at(tue, "10:00"), End: at(tue, "12:00")})
			return err
		}},
		{"new hours", func() error {
			st, err := other.StaffMember(ctx, f.ana)
			if err != nil {
				return err
			}
			st.Hours = hours(weekdays, iv("08:00", "11:00"))
			return other.UpdateStaff(ctx, st)
		}},
		{"a date override", func() error {
			return other.SetDateOverride(ctx, domain.DateOverride{StaffID: f.ben, Date: date("2026-06-03"), Intervals: []domain.Interval{iv("15:00", "19:00")}})
		}},
		{"a booking written outside the Store", func() error {
			_, err := f.lease.DB.Write.ExecContext(ctx, `INSERT INTO bookings (service_id, staff_id, customer_id, start_at, end_at,
				block_start, block_end, status, seats, notes, customer_name, customer_email, customer_phone, calendar_uid, created_at, updated_at)
				VALUES (?, ?, (SELECT min(id) FROM customers), ?, ?, ?, ?, 'confirmed', 1, '', 'X', '', '', 'uid-x', 0, 0)`,
				f.svc, f.ben, at(tue, "13:00").Unix(), at(tue, "13:45").Unix(), at(tue, "13:00").Unix(), at(tue, "14:00").Unix())
			return err
		}},
	}
	for _, c := range changes {
		before := f.check(t, "before "+c.name)
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if after := f.check(t, "after "+c.name); after == before {
			t.Fatalf("%s changed nothing in the answer, so the test shows nothing:\n%s", c.name, after)
		}
	}
}

// A kept answer follows the clock: slots pass under the minimum notice and days come within the
// horizon as time goes by, exactly as a fresh answer shows them.
func TestAvailabilityCacheFollowsTheClock(t *testing.T) {
	f := newCacheFixture(t)
	answers := map[string]bool{}
	for tm := monday.Add(2 * time.Hour); tm.Before(monday.Add(40 * time.Hour)); tm = tm.Add(7 * time.Minute) {
		f.clk.Set(tm)
		answers[f.check(t, "at "+tm.Format(time.DateTime))] = true
	}
	if len(answers) < 20 {
		t.Fatalf("the answer changed only %d times as the clock moved, so the test shows little", len(answers))
	}
}

// Readers on many Stores race a writer booking one slot after another: an answer asked for after
// a booking was made never shows the slots it took (only bookings are made, so the free slots
// can only shrink), and once the writer is done every Store's answer is the fresh one. Run with
// -race.
func TestAvailabilityCacheUnderConcurrentBookings(t *testing.T) {
	ctx := context.Background()
	f := newCacheFixture(t)
	tue := date("2026-06-02")
	q := domain.AvailabilityQuery{ServiceID: f.svc, From: tue, To: tue}
	count := func(s *domain.Store) (int, error) {
		days, err := s.Availability(ctx, q)
		if err != nil {
			return 0, err
		}
		return len(days[0].Slots), nil
	}
	var atMost atomic.Int64 // the free slots after the last booking made
	n, err := count(f.fresh)
	if err != nil {
		t.Fatal(err)
	}
	atMost.Store(int64(n))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s := domain.NewCachedStore(f.lease.DB, f.lease.Location, f.clk.Now)
			for {
				select {
				case <-stop:
					return
				default:
				}
				bound := atMost.Load()
				n, err := count(s)
				if err == nil && int64(n) > bound {
					err = fmt.Errorf("%d free slots, after a booking that left %d", n, bound)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, hhmm := range []string{"09:00", "10:00", "11:00", "12:00", "14:00", "15:00", "16:00"} {
		if _, _, err := f.cached.CreateBooking(ctx, domain.BookingRequest{ServiceID: f.svc, Start: at(tue, hhmm), Customer: customer(1)}); err != nil {
			t.Fatalf("booking %s: %v", hhmm, err)
		}
		n, err := count(f.fresh)
		if err != nil {
			t.Fatal(err)
		}
		atMost.Store(int64(n))
		f.check(t, "after booking "+hhmm)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.check(t, "after the race")
}
