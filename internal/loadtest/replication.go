package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The targets of issue #22 measured here, each against the same build with no replica.
const (
	targetSyncExtraMs   = 3.0  // createBooking p50 with sync acknowledgement, above no replica
	targetWritersPct    = 50.0 // 4 writers on one business, throughput with sync, % of no replica's
	replicationWriters  = 4
	replicationBookings = 200 // one after another, for the p50
)

var (
	replication = flag.Bool("replication", false, "measure replication (issue #22) instead: createBooking with sync to a loopback S3 server\n"+
		"against no replica, and 4 concurrent writers on one business")
	writersD = flag.Duration("writers", 5*time.Second, "replication: how long each 4-writer run takes")
)

// replicationBench provisions one business, starts a loopback S3 server (gofakes3, in memory),
// and measures bookings on the server without a replica and with --replica-ack sync: one at a
// time (p50) and four writers at once (throughput).
func replicationBench(ctx context.Context, dir string) {
	*tenantsN, *activeN, *coldN, *noisyRows = 1, 1, 0, 0
	log.Printf("replication: provisioning one business in %s ...", dir)
	slugs, _, noisy, _ := provision(ctx, dir)
	slug := slugs[0]

	s3URL := startFakeS3()
	figs := map[string]map[string]float64{}
	for _, kind := range []string{"none", "sync"} {
		var extra []string
		if kind == "sync" {
			extra = []string{"--replica", "s3://reserva/bench?endpoint=" + s3URL + "&region=us-east-1", "--replica-ack", "sync"}
		}
		srv := startServer(dir, extra...)
		cleanups = append(cleanups, srv.stop)
		// Enough addresses that the per-address booking limit (a burst of 10 each) is not
		// what is measured.
		c := newClientsFrom(1000)
		c.noisy = noisy
		r := rand.New(rand.NewPCG(1, 2))
		for range 10 { // warm: the business open and, with a replica, attached and synced
			check(c.op(srv.url, slug, "book", r))
		}
		var took []float64
		for range replicationBookings {
			t0 := time.Now()
			check(c.op(srv.url, slug, "book", r))
			took = append(took, ms(time.Since(t0)))
		}
		log.Printf("replication %s: %d bookings one at a time, then %d writers for %s ...", kind, replicationBookings, replicationWriters, *writersD)
		rps, conflicts := bookingWriters(srv.url, slug, c)
		figs[kind] = map[string]float64{"booking_p50_ms": pct(took, 50), "booking_p99_ms": pct(took, 99), "writers_rps": rps, "writers_conflicts": float64(conflicts)}
		if kind == "sync" { // the figures are a replica's only if the server shipped something
			shipped := metricValue(srv.url, "reserva_replica_shipped_bytes_total")
			if shipped <= 0 {
				fatal("replication: the server with --replica shipped nothing to the S3 server")
			}
			figs[kind]["shipped_mib"] = shipped / (1 << 20)
		}
		srv.stop()
	}
	extraMs := figs["sync"]["booking_p50_ms"] - figs["none"]["booking_p50_ms"]
	ratio := 100 * figs["sync"]["writers_rps"] / figs["none"]["writers_rps"]
	figs["targets"] = map[string]float64{"sync_extra_p50_ms": extraMs, "writers_pct": ratio}

	fmt.Println("\nReplication (issue #22), against the same build with no replica:")
	for _, k := range []string{"none", "sync"} {
		f := figs[k]
		fmt.Printf("  %-5s createBooking p50 %6.2f ms  p99 %6.2f ms   %d writers on one business %7.1f bookings/s\n",
			k, f["booking_p50_ms"], f["booking_p99_ms"], replicationWriters, f["writers_rps"])
	}
	line := func(name, measured, goal string, met bool) {
		verdict := "MISSED"
		if met {
			verdict = "met"
		}
		fmt.Printf("  %-6s %-52s %-14s (target %s)\n", verdict, name, measured, goal)
	}
	line("createBooking p50 with sync, above no replica", fmt.Sprintf("%+.2f ms", extraMs), fmt.Sprintf("<= %.0f ms", targetSyncExtraMs), extraMs <= targetSyncExtraMs)
	line(fmt.Sprintf("%d writers on one business, throughput with sync", replicationWriters), fmt.Sprintf("%.0f%%", ratio), fmt.Sprintf(">= %.0f%%", targetWritersPct), ratio >= targetWritersPct)
	fmt.Println("  not measured here yet: async lag p99 at 1,000 req/s, RSS and fds with 1,024 replicated businesses, recovery of 1,000")
	b, _ := json.MarshalIndent(figs, "", "  ")
	check(os.WriteFile(*out, b, 0o644))
	log.Printf("figures written to %s", *out)
}

// startFakeS3 serves an in-memory S3 bucket "reserva" on loopback (plain HTTP) until the
// program ends, and sets the AWS variables the server's S3 client reads.
func startFakeS3() string {
	backend := s3mem.New()
	check(backend.CreateBucket("reserva"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	srv := &http.Server{Handler: gofakes3.New(backend).Server(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with the program
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"} {
		check(os.Setenv(k, v))
	}
	check(os.Unsetenv("AWS_CA_BUNDLE"))
	return "http://" + ln.Addr().String()
}

// metricValue reads one gauge or counter (its first series) from the server's /metrics.
func metricValue(base, name string) float64 {
	families := scrapeMetrics(base)
	f, ok := families[name]
	if !ok || len(f.GetMetric()) == 0 {
		fatal(fmt.Errorf("/metrics has no %s", name))
	}
	m := f.GetMetric()[0]
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// bookingWriters books on one business with replicationWriters clients at once, each as fast
// as it can, for *writersD: bookings made per second, and how many were refused because the
// time was taken meanwhile. Running out of free times ends the program: the figure would be
// wrong.
func bookingWriters(base, slug string, c *clients) (rps float64, conflicts int64) {
	var ok, refused atomic.Int64
	var failed atomic.Pointer[error] // the first failure stops every writer
	deadline := time.Now().Add(*writersD)
	var wg sync.WaitGroup
	for i := range replicationWriters {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 9))
			for time.Now().Before(deadline) && failed.Load() == nil {
				switch err := c.op(base, slug, "book", r); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, errBookedOut):
					err = fmt.Errorf("replication: %s is booked out", slug)
					failed.CompareAndSwap(nil, &err)
				case errors.Is(err, errConflict):
					refused.Add(1)
				default:
					err = fmt.Errorf("replication: booking: %w", err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fatal(*err)
	}
	return float64(ok.Load()) / writersD.Seconds(), refused.Load()
}
