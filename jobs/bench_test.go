package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

// benchTenants is how many tenants the fleet benchmarks use: RESERVA_BENCH_TENANTS, default
// 1,000 (the figure is 10,000: set it for the full run).
func benchTenants() int {
	if n, err := strconv.Atoi(os.Getenv("RESERVA_BENCH_TENANTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// fleet provisions n tenants with the real schema minus its last migration, so each is one
// migration behind the embedded set.
func fleet(b *testing.B, n int) (string, *tenancy.SQLiteRegistry) {
	ctx := context.Background()
	dir := b.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := reg.Close(); err != nil {
			b.Error(err)
		}
	})
	all := migrations.Tenant()
	old, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet, Migrations: all[:len(all)-1]})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := old.Provision(ctx, tenancy.NewTenant{Slug: fmt.Sprintf("tenant-%d", i), Name: "T", Timezone: "UTC"}); err != nil {
			b.Fatal(err)
		}
	}
	_ = old.Close(ctx)
	return dir, reg
}

// BenchmarkSweepFleet: the migration sweep over a fleet whose tenants are each one migration
// behind (the real last migration), with the default handle cap and the scheduler's 4 workers.
func BenchmarkSweepFleet(b *testing.B) {
	n := benchTenants()
	for range b.N {
		b.StopTimer()
		dir, reg := fleet(b, n)
		m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r, err := jobs.Sweep(context.Background(), m, 0, sweepWorkers())
		took := time.Since(start)
		b.StopTimer()
		if err != nil || r.Migrated != n {
			b.Fatalf("%s %v", r, err)
		}
		b.ReportMetric(float64(n), "tenants")
		b.ReportMetric(took.Seconds(), "s-total")
		b.ReportMetric(float64(took.Microseconds())/1000/float64(n), "ms/tenant")
		_ = m.Close(context.Background())
	}
}

// BenchmarkBackupFleet: backing up a fleet of small tenants to a local blob store.
func BenchmarkBackupFleet(b *testing.B) {
	n := benchTenants()
	for range b.N {
		b.StopTimer()
		dir, reg := fleet(b, n)
		u, _ := blob.FileURL(filepath.Join(dir, "blobs"))
		blobs, err := blob.Open(context.Background(), u)
		if err != nil {
			b.Fatal(err)
		}
		m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jobs.Sweep(context.Background(), m, 0, 2); err != nil { // current schema, as in production
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r, err := jobs.Backups(context.Background(), m, blobs, "", 7, 4, 2)
		took := time.Since(start)
		b.StopTimer()
		if err != nil || r.BackedUp != n {
			b.Fatalf("%s %v", r, err)
		}
		b.ReportMetric(float64(n), "tenants")
		b.ReportMetric(took.Seconds(), "s-total")
		b.ReportMetric(float64(took.Microseconds())/1000/float64(n), "ms/tenant")
		_ = m.Close(context.Background())
		_ = blobs.Close()
	}
}

// sweepWorkers is the sweep's concurrency: RESERVA_BENCH_WORKERS, default 4 (the scheduler's).
func sweepWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("RESERVA_BENCH_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 4
}
