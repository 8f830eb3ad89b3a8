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
