package domain_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// mustOpenStore provisions a real tenant database (through the tenancy layer, with the embedded
// migrations) in tb.TempDir() and returns a Store over it in zone tz at time now.
func mustOpenStore(tb testing.TB, tz string, now time.Time) (*domain.Store, *clock) {
	tb.Helper()
	l := mustOpenLease(tb, tz)
	c := &clock{t: now}
	return domain.NewCachedStore(l.DB, l.Location, c.Now), c
}

// mustOpenLease provisions a real tenant database in tb.TempDir() and holds it open.
func mustOpenLease(tb testing.TB, tz string) *tenancy.Lease {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	t, err := m.Provision(ctx, tenancy.NewTenant{Slug: "test-biz", Name: "Test", Timezone: tz})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := m.Acquire(ctx, t)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		l.Release()
		_ = m.Close(ctx)
		_ = reg.Close()
	})
	return l
}

// hours returns weekly hours with the same intervals on the given weekdays.
func hours(days []time.Weekday, ivs ...domain.Interval) domain.WeeklyHours {
	var h domain.WeeklyHours
	for _, d := range days {
		h[d] = ivs
	}
	return h
}

var (
	weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	everyDay = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
)

func iv(from, to string) domain.Interval {
	p := func(s string) int {
		t, err := time.Parse("15:04", s)
		if err != nil {
			if s == "24:00" {
				return 1440
			}
			panic(err)
		}
		return t.Hour()*60 + t.Minute()
	}
	return domain.Interval{Start: p(from), End: p(to)}
}

func mustStaff(tb testing.TB, s *domain.Store, name string, h domain.WeeklyHours) int64 {
	tb.Helper()
	id, err := s.CreateStaff(context.Background(), domain.Staff{Name: name, Hours: h})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func mustService(tb testing.TB, s *domain.Store, svc domain.Service) int64 {
	tb.Helper()
	if svc.Name == "" {
		svc.Name = "Cut"
	}
	if svc.Price.Currency == "" {
		svc.Price = domain.Money{Amount: 2500, Currency: "EUR"}
	}
	if svc.Capacity == 0 {
		svc.Capacity = 1
	}
	id, err := s.CreateService(context.Background(), svc)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func mustSettings(tb testing.TB, s *domain.Store, change func(*domain.Settings)) {
	tb.Helper()
	st, err := s.Settings(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	change(&st)
	if err := s.UpdateSettings(context.Background(), st); err != nil {
		tb.Fatal(err)
	}
}

func date(s string) domain.Date {
	d, err := domain.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// starts formats the slot starts of day as local "15:04" times.
func starts(day domain.Day, loc *time.Location) []string {
	var out []string
	for _, s := range day.Slots {
		out = append(out, s.Start.In(loc).Format("15:04"))
	}
	return out
}

func customer(n int) domain.Customer {
	return domain.Customer{Name: "Customer", Email: "c" + string(rune('a'+n%26)) + string(rune('a'+n/26)) + "@example.com"}
}
