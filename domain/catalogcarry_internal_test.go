package domain

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// A booking's transaction changes nothing of the catalog: the catalog kept before it stays kept
// after its commit, so the business's next request does not read it again; any other commit,
// or a change of the catalog, still drops it.
func TestBookingKeepsTheCatalog(t *testing.T) {
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
	var h WeeklyHours
	h[time.Tuesday] = []Interval{{Start: 9 * 60, End: 17 * 60}}
	ana, err := s.CreateStaff(ctx, Staff{Name: "Ana", Hours: h})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.CreateService(ctx, Service{Name: "Cut", Duration: time.Hour, Capacity: 1,
		Price: Money{Amount: 100, Currency: "EUR"}, StaffIDs: []int64{ana}})
	if err != nil {
		t.Fatal(err)
	}
	tue := Date{2026, time.June, 2}
	kept := func() *catalog { c, _ := s.cache.kept(); return c }

	if _, err := s.Availability(ctx, AvailabilityQuery{ServiceID: svc, From: tue, To: tue}); err != nil {
		t.Fatal(err)
	}
	before := kept()
	if before == nil {
		t.Fatal("no catalog kept after a lookup")
	}
	b, _, err := s.CreateBooking(ctx, BookingRequest{ServiceID: svc, Start: tue.At(10*60, l.Location), Customer: Customer{Name: "C", Email: "c@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := kept(); got != before {
		t.Fatalf("after a booking the kept catalog is %p, want the one from before it (%p)", got, before)
	}
	if _, err := s.Cancel(ctx, b.ID, "", ActorCustomer); err != nil {
		t.Fatal(err)
	}
	if got := kept(); got != before {
		t.Fatalf("after a cancellation the kept catalog is %p, want the one from before it (%p)", got, before)
	}
	// A change of the catalog is seen at once, and a booking carries the new catalog only.
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE services SET name = 'Trim' WHERE id = ?`, svc); err != nil {
		t.Fatal(err)
	}
	if kept() != nil {
		t.Fatal("the catalog was still kept after a change of a service")
	}
	if _, _, err := s.CreateBooking(ctx, BookingRequest{ServiceID: svc, Start: tue.At(12*60, l.Location), Customer: Customer{Name: "C", Email: "c@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Service(ctx, svc); err != nil || got.Name != "Trim" {
		t.Fatalf("service after the rename and a booking: %q, %v", got.Name, err)
	}
}
