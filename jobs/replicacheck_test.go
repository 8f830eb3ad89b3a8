package jobs_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// The replica check restores tenants from the replica and checks them: a good copy passes, a
// damaged chain in the replica is a failure naming its tenant, a tenant the replica never held
// is counted apart; /metrics shows the verified restores, the failures and when the last check
// without a failure ran.
func TestVerifyReplica(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`), tenancy.Config{})
	dir := filepath.Join(t.TempDir(), "replica")
	rep, err := replica.Open(ctx, "file://"+dir, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rep.Close(ctx) }() // every handle is closed below
	good := tenanttest.MustProvision(t, m, "good")
	damaged := tenanttest.MustProvision(t, m, "damaged")
	tenanttest.MustProvision(t, m, "never")
	for _, tn := range []tenancy.Tenant{good, damaged} {
		path, _ := m.Path(tn.ID)
		h, err := rep.Attach(ctx, replica.TenantName(tn.ID), path)
		if err != nil {
			t.Fatal(err)
		}
		tenanttest.Exec(t, m, tn, `INSERT INTO notes (body) VALUES ('x')`)
		if err := h.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Damage every file of one tenant's chain in the replica: cut each in half.
	files, _ := filepath.Glob(filepath.Join(dir, "tenants", damaged.ID, "ltx", "*", "*.ltx"))
	if len(files) == 0 {
		t.Fatal("no LTX files in the replica")
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}

	r, err := jobs.VerifyReplica(ctx, m, rep, 10, rand.New(rand.NewPCG(1, 2)))
	if r.Verified != 1 || r.Absent != 1 || !slices.Equal(r.Failed, []string{"damaged"}) {
		t.Errorf("result %+v, want 1 verified, 1 absent, damaged failed", r)
	}
	if err == nil || !strings.Contains(err.Error(), "tenant damaged") {
		t.Errorf("error %v, want one naming the damaged tenant", err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.Dir, "tenants", "*", "*.restore-*")); len(left) > 0 {
		t.Errorf("scratch files left: %v", left)
	}
	if r, _ := jobs.VerifyReplica(ctx, m, rep, 1, rand.New(rand.NewPCG(1, 2))); r.Verified+r.Absent+len(r.Failed) != 1 {
		t.Errorf("a sample of 1 checked %+v", r)
	}

	met := metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	met.ReplicaChecks()
	at := time.Unix(1_800_000_000, 0)
	met.ReplicaCheck(at, 2, 0)
	met.ReplicaCheck(at.Add(time.Hour), 0, 1) // a failing check leaves the time alone
	srv := httptest.NewServer(met.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, want := range []string{"reserva_replica_verified_restore_timestamp_seconds 1.8e+09",
		"reserva_replica_verify_failures_total 1", "reserva_replica_verified_restores_total 2"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
