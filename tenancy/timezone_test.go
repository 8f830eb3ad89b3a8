package tenancy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// A business's time zone can change: the registry keeps it, the next resolution and lease use
// it; names that are not IANA zones are refused.
func TestSetTimezone(t *testing.T) {
	ctx := context.Background()
	m := tenanttest.NewEnv(t).Manager(t, nil, tenancy.Config{})
	tn := tenanttest.MustProvision(t, m, "acme")
	if _, _, err := m.Resolve(ctx, "acme"); err != nil { // cached with the old zone
		t.Fatal(err)
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus_Mons", "Europe/../../etc/passwd"} {
		if err := m.SetTimezone(ctx, tn.ID, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := m.SetTimezone(ctx, "no-such-id", "Asia/Tokyo"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	if err := m.SetTimezone(ctx, tn.ID, "Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	got, _, err := m.Resolve(ctx, "acme")
	if err != nil || got.Timezone != "Asia/Tokyo" {
		t.Fatalf("resolved after the change: %+v %v", got, err)
	}
	l, err := m.Acquire(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Location.String() != "Asia/Tokyo" {
		t.Errorf("lease zone %s", l.Location)
	}
}
