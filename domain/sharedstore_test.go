package domain_test

import (
	"context"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A business's shared store is made once and handed out again without an allocation; it reads
// the business's data like any store, and a new time zone gets a store of its own.
func TestSharedStore(t *testing.T) {
	l := mustOpenLease(t, "Europe/Madrid")
	s := domain.SharedStore(l.DB, l.Location)
	if again := domain.SharedStore(l.DB, l.Location); again != s {
		t.Fatal("a second store for the same business and zone")
	}
	if n := testing.AllocsPerRun(100, func() { _ = domain.SharedStore(l.DB, l.Location) }); n != 0 {
		t.Errorf("%.0f allocations to get the shared store", n)
	}
	if _, err := s.Settings(context.Background()); err != nil {
		t.Fatal(err)
	}
	lisbon, err := time.LoadLocation("Europe/Lisbon")
	if err != nil {
		t.Fatal(err)
	}
	moved := domain.SharedStore(l.DB, lisbon)
	if moved == s || moved.Location() != lisbon {
		t.Errorf("after a change of zone: the same store %v, in %v", moved == s, moved.Location())
	}
	if domain.SharedStore(l.DB, lisbon) != moved {
		t.Error("the new zone's store is not kept")
	}
}
