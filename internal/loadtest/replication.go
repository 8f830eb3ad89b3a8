package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/superfly/ltx"

	"github.com/reserva/reserva/tenancy"
)

// The targets of issue #22 measured here, each against the same build with no replica.
const (
	targetSyncExtraMs   = 3.0  // createBooking p50 with sync acknowledgement, above no replica
	targetWritersPct    = 50.0 // 4 writers on one business, throughput with sync, % of no replica's
	targetLagMs         = 1500 // async: p99 of the time from a booking's answer to the replica holding it
	targetRSSMiB        = 1536 // with targetOpenTenants businesses open and replicated
	targetFDsPerTenant  = 9    // the README's stated need per open business (--max-open-tenants)
	targetOpenTenants   = 1024
	replicationWriters  = 4
	replicationBookings = 200 // one after another, for the p50
)

var (
	replication = flag.Bool("replication", false, "measure replication (issue #22) instead: createBooking with sync to a loopback S3 server\n"+
		"against no replica, 4 concurrent writers on one business, then a fleet with --replica-ack async:\n"+
		"replication lag at the mixed traffic, memory and files with every business open, and recovery")
	writersD    = flag.Duration("writers", 5*time.Second, "replication: how long each 4-writer run takes")
	replTenants = flag.Int("replication-tenants", targetOpenTenants, "replication: businesses of the fleet, all opened (and so replicated) at once")
	replActive  = flag.Int("replication-active", 1000, "replication: businesses of the fleet with a catalog, visited by the mixed traffic")
	lagRate     = flag.Int("lag-rate", targetRate, "replication: requests per second of the mixed traffic whose replication lag is measured")
	lagD        = flag.Duration("lag-duration", 20*time.Second, "replication: how long that traffic runs")
)

// replicationBench measures issue #22's targets against a loopback S3 server (gofakes3, in
// memory, in this process): first one business on the server without a replica and with
// --replica-ack sync, one booking at a time (p50) and four writers at once (throughput); then a
// fleet with --replica-ack async: the server's memory and open files with every business open,
// the replication lag of the bookings of the mixed traffic, and `reserva recover --eager` of
// the whole fleet into an empty directory.
func replicationBench(ctx context.Context, dir string) {
	s3 := startFakeS3()
	figs := syncBench(ctx, filepath.Join(dir, "one"), s3)
	maps.Copy(figs, fleetBench(ctx, filepath.Join(dir, "fleet"), s3))
	printReplication(os.Stdout, figs)
	b, _ := json.MarshalIndent(figs, "", "  ")
	check(os.WriteFile(*out, b, 0o644))
	log.Printf("figures written to %s", *out)
}

// syncBench provisions one business in dir and books on it, one at a time and with four
// writers, on the server without a replica ("none") and with --replica-ack sync ("sync").
func syncBench(ctx context.Context, dir string, s3 *fakeS3) map[string]map[string]float64 {
	check(os.MkdirAll(dir, 0o700))
	*tenantsN, *activeN, *coldN, *noisyRows = 1, 1, 0, 0
	log.Printf("replication: provisioning one business in %s ...", dir)
	slugs, _, noisy, _ := provision(ctx, dir)
	slug := slugs[0]
	figs := map[string]map[string]float64{}
	for _, kind := range []string{"none", "sync"} {
		var extra []string
		if kind == "sync" {
			extra = []string{"--replica", "s3://reserva/bench?endpoint=" + s3.url + "&region=us-east-1", "--replica-ack", "sync"}
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
		puts, cpu0 := s3.puts.Load(), cpuSeconds(serverPID)
		rps, conflicts := bookingWriters(srv.url, slug, c)
		// The server's CPU per booking: what sync acknowledgement costs, less swayed by the
		// machine's other load than the throughput is.
		cpuMs := 1000 * (cpuSeconds(serverPID) - cpu0) / max(1, rps*writersD.Seconds())
		figs[kind] = map[string]float64{"booking_p50_ms": pct(took, 50), "booking_p99_ms": pct(took, 99), "writers_rps": rps, "writers_conflicts": float64(conflicts),
			"writers_server_cpu_ms_per_booking": cpuMs}
		if kind == "sync" { // the figures are a replica's only if the server shipped something
			shipped := metricValue(srv.url, "reserva_replica_shipped_bytes_total")
			if shipped <= 0 {
				fatal("replication: the server with --replica shipped nothing to the S3 server")
			}
			figs[kind]["shipped_mib"] = shipped / (1 << 20)
			// Group commit at work: how many bookings each LTX file (one upload) carried.
			figs[kind]["writers_bookings_per_upload"] = rps * writersD.Seconds() / float64(max(1, s3.puts.Load()-puts))
		}
		srv.stop()
	}
	figs["targets"] = map[string]float64{
		"sync_extra_p50_ms": figs["sync"]["booking_p50_ms"] - figs["none"]["booking_p50_ms"],
		"writers_pct":       100 * figs["sync"]["writers_rps"] / figs["none"]["writers_rps"],
	}
	return figs
}

// bookingAck is a booking on the business with that id: asked for at sent, answered at at.
type bookingAck struct {
	tenant   string
	sent, at time.Time
}

// fleetBench provisions *replTenants businesses in dir (*replActive with a catalog) and serves
// them with --replica-ack async: every business opened first, and the server's RSS and open
// files read once all are attached; then the mixed traffic at *lagRate over the active ones,
// each booking's replication lag timed (ackLags); then the server stopped and the whole fleet
// recovered from the replica into an empty directory.
func fleetBench(ctx context.Context, dir string, s3 *fakeS3) map[string]map[string]float64 {
	check(os.MkdirAll(dir, 0o700))
	start := time.Now()
	since := func() string { return time.Since(start).Round(time.Second).String() }
	*tenantsN, *activeN, *coldN, *noisyRows = *replTenants, min(*replActive, *replTenants), 0, 0
	log.Printf("replication: provisioning %d businesses (%d with a catalog) in %s ...", *tenantsN, *activeN, dir)
	slugs, _, noisy, _ := provision(ctx, dir)
	ids := tenantIDs(ctx, dir, slugs)
	replicaURL := "s3://reserva/fleet?endpoint=" + s3.url + "&region=us-east-1"
	srv := startServer(dir, "--replica", replicaURL, "--replica-ack", "async", "--max-open-tenants", strconv.Itoa(max(len(slugs), tenancy.DefaultMaxOpen)))
	cleanups = append(cleanups, srv.stop)
	active := slugs[:*activeN]
	// Every business open (and so attached, its first copy shipped) before the traffic: the
	// memory and files of the fleet replicated, not of a traffic's heap.
	log.Printf("replication: opening all %d businesses (%s) ...", len(slugs), since())
	touchErrors := touchAll(srv.url, slugs)
	attached := 0.0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if attached = metricValue(srv.url, "reserva_replica_attached"); attached >= float64(len(slugs)+1) {
			break
		}
	}
	rss, fds := procStats(srv.cmd.Process.Pid)
	open := map[string]float64{"tenants": float64(len(slugs)), "attached": attached - 1, "touch_errors": float64(touchErrors), "rss_mib": rss, "open_fds": float64(fds)}
	c := newClients()
	c.noisy = noisy
	z := newZipf(len(active))
	log.Printf("replication: mixed traffic at %d req/s for %s with --replica-ack async (fleet ready after %s) ...", *lagRate, *lagD, since())
	var mu sync.Mutex
	var acks []bookingAck
	timed := openLoop(*lagD, *lagRate, func(r *rand.Rand) (string, error) {
		op, slug := pickOp(r), active[z.next(r)]
		sent := time.Now()
		err := c.op(srv.url, slug, op, r)
		if op == "book" && err == nil {
			mu.Lock()
			acks = append(acks, bookingAck{ids[slug], sent, time.Now()})
			mu.Unlock()
		}
		return op, err
	})
	// The last bookings ship within the server's sync interval (1 s): wait for them, up to 10 s.
	lags, missing := ackLags(acks, s3.uploadsOf)
	for deadline := time.Now().Add(10 * time.Second); missing > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		lags, missing = ackLags(acks, s3.uploadsOf)
	}
	sum := timed.summary()
	errs := 0
	for _, op := range []string{"page", "availability", "book"} {
		if s, ok := sum[op].(opStats); ok {
			errs += s.Errors
		}
	}
	async := map[string]float64{"offered_rps": float64(*lagRate), "achieved_rps": sum["achieved_rps"].(float64), "errors": float64(errs),
		"bookings": float64(len(acks)), "lag_p50_ms": pct(lags, 50), "lag_p99_ms": pct(lags, 99), "lag_max_ms": pct(lags, 100), "never_shipped": float64(missing)}

	srv.stop() // a final sync of every business

	log.Printf("replication: recovering the fleet from the replica (%s) ...", since())
	into := filepath.Join(dir, "recovered")
	t0 := time.Now()
	cmd := exec.Command(*bin, "recover", "--replica", replicaURL, "--data", into, "--eager")
	cmd.Stderr = io.Discard // the progress bar
	outb, err := cmd.Output()
	took := time.Since(t0)
	rec := parseRecover(string(outb))
	rec["seconds"] = took.Seconds()
	log.Printf("replication: fleet done in %s", since())
	if err != nil {
		log.Printf("replication: recover: %v\n%s", err, outb)
		rec["failed"] = 1
	}
	return map[string]map[string]float64{"async": async, "open": open, "recover": rec}
}

// tenantIDs maps each slug to its business's id (the replica names businesses by id).
func tenantIDs(ctx context.Context, dir string, slugs []string) map[string]string {
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	check(err)
	defer func() { check(reg.Close()) }()
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	check(err)
	defer func() { check(m.Close(ctx)) }()
	ids := map[string]string{}
	for _, slug := range slugs {
		t, _, err := m.Resolve(ctx, slug)
		check(err)
		ids[slug] = t.ID
	}
	return ids
}

// ackLags times each acknowledged booking's way to the replica: from its answer to the end of
// the upload of the first LTX file of its business written after it was asked for (0 when that
// upload ended before the answer came). The commit lies between the two: a file written after
// the answer surely holds it, but requiring that would skip the file that shipped it while the
// answer was on its way, and time the business's next write instead (or nothing, for a quiet
// business). A file written between the ask and the commit does not hold it; the server ships
// what is left within its sync interval, so such a booking (rare: a tick within its few
// milliseconds) is timed up to that interval short. It returns the lags in milliseconds and how
// many bookings no upload holds yet.
func ackLags(acks []bookingAck, uploadsOf func(tenant string) []ltxUpload) (lags []float64, missing int) {
	byTenant := map[string][]ltxUpload{}
	for _, a := range acks {
		if _, ok := byTenant[a.tenant]; !ok {
			byTenant[a.tenant] = uploadsOf(a.tenant)
		}
		// LTX timestamps are in whole milliseconds: a request counts from its millisecond.
		sent := a.sent.Truncate(time.Millisecond)
		var done time.Time
		for _, u := range byTenant[a.tenant] {
			if !u.shipped.Before(sent) && (done.IsZero() || u.done.Before(done)) {
				done = u.done
			}
		}
		if done.IsZero() {
			missing++
			continue
		}
		lags = append(lags, max(0, ms(done.Sub(a.at))))
	}
	return lags, missing
}

// recoverLine is what `reserva recover --eager` prints last.
var recoverLine = regexp.MustCompile(`Recovered the registry and (\d+) of (\d+) businesses, ([0-9.]+) MB in \S+ \(([0-9.]+) MB/s\)`)

// parseRecover reads recover's figures from its output: the businesses restored and asked for,
// the MB restored and the MB/s it reports (all zero when the line is missing).
func parseRecover(out string) map[string]float64 {
	f := map[string]float64{"restored": 0, "businesses": 0, "mb": 0, "mb_per_s": 0}
	m := recoverLine.FindStringSubmatch(out)
	if m == nil {
		return f
	}
	for i, k := range []string{"restored", "businesses", "mb", "mb_per_s"} {
		f[k], _ = strconv.ParseFloat(m[i+1], 64)
	}
	return f
}

// printReplication writes the replication figures and issue #22's checklist: one line per
// target, met or MISSED; a figure measured at another size or rate than the target's is not
// reported as met.
func printReplication(w io.Writer, figs map[string]map[string]float64) {
	fmt.Fprintln(w, "\nReplication (issue #22), against the same build with no replica:")
	for _, k := range []string{"none", "sync"} {
		f := figs[k]
		fmt.Fprintf(w, "  %-5s createBooking p50 %6.2f ms  p99 %6.2f ms   %d writers on one business %7.1f bookings/s, server CPU %.2f ms each\n",
			k, f["booking_p50_ms"], f["booking_p99_ms"], replicationWriters, f["writers_rps"], f["writers_server_cpu_ms_per_booking"])
	}
	fmt.Fprintf(w, "  sync: %.2f bookings per upload (group commit) with %d writers\n", figs["sync"]["writers_bookings_per_upload"], replicationWriters)
	a, o, r := figs["async"], figs["open"], figs["recover"]
	fmt.Fprintf(w, "  async at %.0f req/s (%.0f achieved, %.0f errors): %.0f bookings, replica held them after p50 %.0f ms, p99 %.0f ms, max %.0f ms (%.0f never)\n",
		a["offered_rps"], a["achieved_rps"], a["errors"], a["bookings"], a["lag_p50_ms"], a["lag_p99_ms"], a["lag_max_ms"], a["never_shipped"])
	fmt.Fprintf(w, "  %.0f businesses open and replicated (%.0f of %.0f attached, %.0f failed to open): %.0f MiB RSS, %.0f open files\n",
		o["attached"], o["attached"], o["tenants"], o["touch_errors"], o["rss_mib"], o["open_fds"])
	fmt.Fprintf(w, "  recover --eager: %.0f of %.0f businesses, %.1f MB in %.1f s (%.1f MB/s as recover reports it)\n",
		r["restored"], r["businesses"], r["mb"], r["seconds"], r["mb_per_s"])

	line := func(name, measured, goal string, met bool) {
		verdict := "MISSED"
		if met {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-6s %-56s %-22s (target %s)\n", verdict, name, measured, goal)
	}
	t := figs["targets"]
	line("createBooking p50 with sync, above no replica", fmt.Sprintf("%+.2f ms", t["sync_extra_p50_ms"]),
		fmt.Sprintf("<= %.0f ms", targetSyncExtraMs), t["sync_extra_p50_ms"] <= targetSyncExtraMs)
	line(fmt.Sprintf("%d writers on one business, throughput with sync", replicationWriters), fmt.Sprintf("%.0f%%", t["writers_pct"]),
		fmt.Sprintf(">= %.0f%%", targetWritersPct), t["writers_pct"] >= targetWritersPct)
	lagName := fmt.Sprintf("async replication lag p99 at %d req/s", targetRate)
	switch {
	case a["offered_rps"] != targetRate || a["bookings"] == 0:
		line(lagName, fmt.Sprintf("not measured (%.0f req/s, %.0f bookings)", a["offered_rps"], a["bookings"]), fmt.Sprintf("< %d ms", targetLagMs), false)
	default:
		line(lagName, fmt.Sprintf("%.0f ms", a["lag_p99_ms"]), fmt.Sprintf("< %d ms", targetLagMs),
			a["lag_p99_ms"] < targetLagMs && a["never_shipped"] == 0)
	}
	full := o["attached"] >= targetOpenTenants
	size := ""
	if !full {
		size = fmt.Sprintf(" (only %.0f open)", o["attached"])
	}
	line(fmt.Sprintf("RSS with %d businesses open and replicated", targetOpenTenants), fmt.Sprintf("%.0f MiB%s", o["rss_mib"], size),
		fmt.Sprintf("< %d MiB", targetRSSMiB), full && o["rss_mib"] < targetRSSMiB)
	perTenant := o["open_fds"] / max(o["attached"], 1)
	line(fmt.Sprintf("open files with %d businesses open and replicated", targetOpenTenants), fmt.Sprintf("%.0f, %.1f each%s", o["open_fds"], perTenant, size),
		fmt.Sprintf("<= %d each", targetFDsPerTenant), full && perTenant <= targetFDsPerTenant)
	line(fmt.Sprintf("recover %.0f businesses from the replica", r["businesses"]), fmt.Sprintf("%.1f s, %.1f MB/s", r["seconds"], r["mb_per_s"]),
		"every one restored; time and MB/s", r["businesses"] > 0 && r["restored"] == r["businesses"] && r["failed"] == 0)
}

// fakeS3 is an in-memory S3 bucket "reserva" served on loopback (plain HTTP) until the program
// ends. It counts the LTX files uploaded, and keeps when each was written (its header's
// timestamp, taken as the server read the WAL) and when its upload ended, per business.
type fakeS3 struct {
	url  string
	puts atomic.Int64 // LTX files uploaded

	mu      sync.Mutex
	uploads map[string][]ltxUpload // by tenant id
}

// ltxUpload is one LTX file of a business uploaded: what the server read from its WAL at shipped
// is in the replica from done on.
type ltxUpload struct{ shipped, done time.Time }

// startFakeS3 starts a fakeS3 and sets the AWS variables the server's S3 client reads.
func startFakeS3() *fakeS3 {
	backend := s3mem.New()
	check(backend.CreateBucket("reserva"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	f := &fakeS3{url: "http://" + ln.Addr().String(), uploads: map[string][]ltxUpload{}}
	fake := gofakes3.New(backend).Server()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, isLTX := ltxTenant(r)
		if !isLTX {
			fake.ServeHTTP(w, r)
			return
		}
		// The header (100 bytes) is read, its timestamp kept, and put back in front of the body.
		head := make([]byte, ltx.HeaderSize)
		n, _ := io.ReadFull(r.Body, head)
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head[:n]), r.Body), r.Body}
		fake.ServeHTTP(w, r)
		f.puts.Add(1)
		var h ltx.Header
		if id == "" || n < ltx.HeaderSize || h.UnmarshalBinary(head) != nil {
			return
		}
		f.mu.Lock()
		f.uploads[id] = append(f.uploads[id], ltxUpload{shipped: time.UnixMilli(h.Timestamp), done: time.Now()})
		f.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with the program
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"} {
		check(os.Setenv(k, v))
	}
	check(os.Unsetenv("AWS_CA_BUNDLE"))
	return f
}

// ltxTenant reports whether r uploads a level-0 LTX file (one sync's), and of which business
// ("" for the registry): PUT /reserva/<prefix>/tenants/<id>/ltx/0/<file>.ltx.
func ltxTenant(r *http.Request) (id string, ok bool) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, ".ltx") {
		return "", false
	}
	dir := path.Dir(r.URL.Path)
	if path.Base(dir) != "0" || path.Base(path.Dir(dir)) != "ltx" {
		return "", false
	}
	owner := path.Dir(path.Dir(dir)) // …/tenants/<id> or …/registry
	if path.Base(path.Dir(owner)) == "tenants" {
		return path.Base(owner), true
	}
	return "", true
}

// uploadsOf returns a copy of the uploads of tenant id so far.
func (f *fakeS3) uploadsOf(id string) []ltxUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uploads[id])
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
