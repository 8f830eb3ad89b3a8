package tenancy_test

import (
	"context"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// A long-lived holder (a live websocket) learns through Lease.Done that an exclusive operation
// wants its tenant, and Exclusive goes ahead once it lets go, instead of failing after
// ExclusiveWait while a dashboard tab is open. Leases taken afterwards get a fresh channel.
func TestLeaseDoneAsksHolderToLetGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{ExclusiveWait: 10 * time.Second})
	acme := tenanttest.MustProvision(t, m, "acme")
	other := tenanttest.MustProvision(t, m, "other")

	l, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	bystander, err := m.Acquire(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Release()
	let := make(chan struct{})
	go func() { // the holder: gives the lease back when asked
		<-l.Done()
		l.Release()
		close(let)
	}()
	ran := false
	if err := m.Exclusive(ctx, acme.ID, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("exclusive while a holder watches Done: ran %v, %v", ran, err)
	}
	<-let
	select {
	case <-bystander.Done():
		t.Error("another tenant's lease was asked to go")
	default:
	}

	again, err := m.Acquire(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	select {
	case <-again.Done():
		t.Error("a lease taken after the exclusive operation is already asked to go")
	default:
	}
}
