package tenancy_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// reportLatencies adds p50 and p99 of ds to the benchmark's output.
func reportLatencies(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkProvision creates tenants: "spare" claims a ready spare database (the server's way;
// the pool is refilled between sign-ups, outside the timer), "copy" copies the template.
func BenchmarkProvision(b *testing.B) {
	for _, c := range []struct {
		name   string
		spares int
	}{{"spare", 4}, {"copy", 0}} {
		b.Run(c.name, func(b *testing.B) {
			e := tenanttest.NewEnv(b)
			m := e.Manager(b, nil, tenancy.Config{Spares: c.spares})
			tenanttest.MustProvision(b, m, "warm-up") // makes the template
			ds := make([]time.Duration, 0, b.N)
			for i := range b.N {
				b.StopTimer()
				for c.spares > 0 && m.SparesReady() < c.spares {
					time.Sleep(100 * time.Microsecond)
				}
				b.StartTimer()
				start := time.Now()
				tenanttest.MustProvision(b, m, fmt.Sprintf("tenant-%d", i))
				ds = append(ds, time.Since(start))
			}
			reportLatencies(b, ds)
		})
	}
}

// BenchmarkAcquireCold measures the first request to a tenant whose database is closed.
func BenchmarkAcquireCold(b *testing.B) {
	ctx := context.Background()
	e := tenanttest.NewEnv(b)
	m := e.Manager(b, nil, tenancy.Config{})
	var ts []tenancy.Tenant
	for i := range 200 {
		ts = append(ts, tenanttest.MustProvision(b, m, fmt.Sprintf("tenant-%d", i)))
	}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t := ts[i%len(ts)]
		start := time.Now()
		l, err := m.Acquire(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if err := l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		l.Release()
		b.StopTimer()
		m.CloseIdle(0)
		b.StartTimer()
	}
	reportLatencies(b, ds)
}

// BenchmarkLazyMigration measures the wait of the first request to a tenant one migration behind
// (an ALTER TABLE and an index on a table with 1,000 rows).
func BenchmarkLazyMigration(b *testing.B) {
	ctx := context.Background()
	e := tenanttest.NewEnv(b)
	const create = `CREATE TABLE bookings (id INTEGER PRIMARY KEY, starts_at TEXT, note TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000)
		INSERT INTO bookings (starts_at, note) SELECT datetime('now', '+' || i || ' hours'), 'note ' || i FROM n;`
	old := e.Manager(b, tenanttest.Migs(b, create), tenancy.Config{})
	var ts []tenancy.Tenant
	for i := range b.N {
		ts = append(ts, tenanttest.MustProvision(b, old, fmt.Sprintf("tenant-%d", i)))
	}
	_ = old.Close(ctx)
	m := e.Manager(b, tenanttest.Migs(b, create, `ALTER TABLE bookings ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed';
		CREATE INDEX bookings_start_idx ON bookings (starts_at);`), tenancy.Config{})
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N { // one fresh tenant per iteration, so not b.Loop
		start := time.Now()
		l, err := m.Acquire(ctx, ts[i])
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		l.Release()
	}
	reportLatencies(b, ds)
}

// BenchmarkOpenHandleRSS opens 500 tenants at once, each having served a read and a write, and
// reports the resident memory and open files each handle costs.
func BenchmarkOpenHandleRSS(b *testing.B) {
	ctx := context.Background()
	const n = 500
	for range b.N {
		b.StopTimer()
		e := tenanttest.NewEnv(b)
		m := e.Manager(b, nil, tenancy.Config{MaxOpen: n})
		var ts []tenancy.Tenant
		for i := range n {
			ts = append(ts, tenanttest.MustProvision(b, m, fmt.Sprintf("tenant-%d", i)))
		}
		runtime.GC()
		rss0, fds0 := rssKiB(b), openFDs()
		b.StartTimer()
		var leases []*tenancy.Lease
		for _, t := range ts {
			l, err := m.Acquire(ctx, t)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO sessions VALUES ('x', x'00', 1)`); err != nil {
				b.Fatal(err)
			}
			var c int
			if err := l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&c); err != nil {
				b.Fatal(err)
			}
			leases = append(leases, l)
		}
		b.StopTimer()
		runtime.GC()
		b.ReportMetric(float64(rssKiB(b)-rss0)/n, "KiB-RSS/tenant")
		b.ReportMetric(float64(openFDs()-fds0)/n, "fds/tenant")
		for _, l := range leases {
			l.Release()
		}
		if err := m.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func rssKiB(tb testing.TB) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("needs /proc")
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return 0
}

func openFDs() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}
