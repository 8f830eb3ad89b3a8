package tenancy_test

import (
	"context"
	"slices"
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

// ForEachCommitted visits every open business the first time, then only those that committed
// since, and one closed and opened again (a new handle) as new.
func TestForEachCommittedVisitsWriters(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	var ts []tenancy.Tenant
	for _, slug := range []string{"acme", "bolt", "cura"} {
		tn := tenanttest.MustProvision(t, m, slug)
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
		ts = append(ts, tn)
	}
	var c tenancy.Commits
	visit := func() []string {
		t.Helper()
		var got []string
		if _, err := m.ForEachCommitted(ctx, &c, func(l *tenancy.Lease) error {
			got = append(got, l.Tenant.Slug)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	if got := visit(); !slices.Equal(got, []string{"acme", "bolt", "cura"}) {
		t.Errorf("first visit: %v, want every open business", got)
	}
	if got := visit(); len(got) != 0 {
		t.Errorf("nothing written: visited %v", got)
	}
	l, err := m.Acquire(ctx, ts[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB.Write.ExecContext(ctx, `UPDATE settings SET rowid = rowid`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if got := visit(); !slices.Equal(got, []string{"bolt"}) {
		t.Errorf("after a commit of bolt: visited %v", got)
	}
	m.CloseIdle(0)
	if got := visit(); len(got) != 0 {
		t.Errorf("every business closed: visited %v", got)
	}
	if l, err = m.Acquire(ctx, ts[2]); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if got := visit(); !slices.Equal(got, []string{"cura"}) {
		t.Errorf("cura opened again: visited %v, want it as new", got)
	}
}
