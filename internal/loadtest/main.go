// Command loadtest is `make bench`: it provisions a fleet of businesses, starts a real
// `reserva serve` on 127.0.0.1 and measures it from outside: provisioning, mixed Zipf traffic
// against a bare net/http ceiling, cold and migrating tenants, a noisy neighbour, and memory
// with every tenant touched. It prints a table and writes the figures as JSON.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

var (
	bin       = flag.String("bin", "bin/reserva", "the reserva binary to run")
	tenantsN  = flag.Int("tenants", 10000, "businesses to provision")
	activeN   = flag.Int("active", 1000, "businesses with a catalog that the mixed traffic visits")
	coldN     = flag.Int("cold", 100, "closed (and closed-and-behind) businesses whose first request is timed")
	rates     = flag.String("rates", "500,1000", "requests per second of the mixed traffic, one run per rate")
	duration  = flag.Duration("duration", 20*time.Second, "how long the mixed traffic runs")
	ceilingD  = flag.Duration("ceiling", 5*time.Second, "how long each closed-loop throughput run takes")
	noiseD    = flag.Duration("noise", 10*time.Second, "how long each half of the noisy-neighbour run takes")
	noisyRows = flag.Int("noisy-bookings", 2000, "bookings of the noisy tenant, in its next 20 days (its export's size)")
	noiseKind = flag.String("noise-kinds", "exports,writes", "what the noisy business does: exports, writes or both")
	out       = flag.String("out", "bench.json", "where to write the figures")
	keep      = flag.Bool("keep", false, "keep the data directory")
	timeline  = flag.Bool("timeline", false, "log each second's p99 of the timed runs")
	noisyRate = flag.Int("noisy-write-rate", 50, "bookings a second the noisy business takes while it is loud")
	noisyRuns = flag.Int("noisy-runs", 3, "how many times the noisy-neighbour run is made (issue #25 asks for each of three)")
	allocsN   = flag.Int("allocs-requests", 300, "7-day availability requests whose server allocations are counted")
	parts     = flag.String("parts", "cold,ceiling,mixed,noisy,allocs,memory", "which parts run (a shorter run measures one part alone)")
	debugAddr = flag.String("server-debug-addr", "", "serve the server's profiler (/debug/pprof) on this address")
	genProf   = flag.String("loadgen-cpuprofile", "", "write the load generator's CPU profile of the closed-loop Reserva run to this file")
)

// runs reports whether -parts names part.
func runs(part string) bool { return slices.Contains(strings.Split(*parts, ","), part) }

// floorRate is how many requests a second go to the bare handler beside the mixed traffic.
const floorRate = 100

// loadgenGOGC is the load generator's GOGC: its live heap is a few megabytes, so a collection
// every few seconds costs it tens of megabytes.
const loadgenGOGC = 800

// noiseTurns is how many times the noisy-neighbour run switches the noise on and off.
const noiseTurns = 5

// serverPID is the running server's process, whose CPU time the timed runs report.
var serverPID int

// results are every figure measured, as written to the JSON file.
type results struct {
	Machine      string               `json:"machine"`
	Provisioning map[string]float64   `json:"provisioning"`
	Cold         map[string]float64   `json:"cold"`
	Ceiling      map[string]float64   `json:"ceiling"`
	Mixed        []map[string]any     `json:"mixed"`
	Noisy        []map[string]float64 `json:"noisy_neighbour"` // one per run
	Allocs       map[string]float64   `json:"availability_allocs"`
	Memory       map[string]float64   `json:"memory"`
	MailSent     int64                `json:"mail_sent"` // messages the server sent to the bench's SMTP sink
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *noisyRate <= 0 {
		log.Fatal("-noisy-write-rate must be above 0")
	}
	if os.Getenv("GOGC") == "" {
		// The load generator is the measuring instrument and shares the cores with the server:
		// at Go's default its small heap was collected about twice a second, with pauses of up
		// to 5 ms and more often beside the noise (exports downloaded, bookings sent), which
		// counted as the server's latency.
		debug.SetGCPercent(loadgenGOGC)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "reserva-bench-")
	check(err)
	if !*keep {
		defer func() { _ = os.RemoveAll(dir) }() // a scratch directory under the system temp
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	}
	res := results{Machine: machine()}
	if *replication {
		replicationBench(ctx, dir)
		return
	}
	if *clusterN > 0 {
		b, _ := json.MarshalIndent(clusterBench(ctx, dir, os.Stdout), "", "  ")
		check(os.WriteFile(*out, b, 0o644))
		log.Printf("figures written to %s", *out)
		return
	}

	// 1. Provisioning, through the tenancy layer the server uses, before the server starts.
	log.Printf("provisioning %d businesses in %s ...", *tenantsN, dir)
	slugs, behind, noisy, prov := provision(ctx, dir)
	res.Provisioning = prov

	// 2. The server.
	srv := startServer(dir)
	defer srv.stop()
	cleanups = append(cleanups, srv.stop)

	// 3. Cold tenants: closed since the start; closed and one migration behind.
	res.Cold = map[string]float64{}
	if runs("cold") {
		closed := timeFirst(srv.url, slugs[*activeN:*activeN+*coldN])
		res.Cold["closed_p50_ms"], res.Cold["closed_p99_ms"] = pct(closed, 50), pct(closed, 99)
		migrating := timeFirst(srv.url, behind)
		res.Cold["migrating_p50_ms"], res.Cold["migrating_p99_ms"] = pct(migrating, 50), pct(migrating, 99)
	}

	// 4. The ceiling: a bare net/http handler and Reserva, each as fast as 32 clients can go. The
	// active businesses are visited once first: a steady state, not a cold start, is measured.
	active := slugs[:*activeN]
	touchAll(srv.url, active)
	c := newClients()
	c.noisy = noisy
	bare := bareServer()
	z := newZipf(len(active))
	if runs("ceiling") {
		log.Printf("closed loop: the bare handler, then Reserva's mixed traffic, %s each ...", *ceilingD)
		bareRPS, bareCPU := closedLoop(*ceilingD, 32, func(_ *rand.Rand) error { return c.get(bare + "/") })
		stopProfile := startProfile(*genProf)
		mallocs, bytes := serverAllocs(srv.url)
		var sent atomic.Int64
		reservaRPS, reservaCPU := closedLoop(*ceilingD, 32, func(r *rand.Rand) error {
			sent.Add(1)
			return c.op(srv.url, active[z.next(r)], pickOp(r), r)
		})
		mallocs2, bytes2 := serverAllocs(srv.url)
		stopProfile()
		// What a request costs the server, whatever share of the machine it got: on a shared
		// machine the throughput ratio moves with the neighbours, these much less.
		n := float64(sent.Load())
		res.Ceiling = map[string]float64{"bare_rps": bareRPS, "reserva_mixed_rps": reservaRPS, "ratio": reservaRPS / bareRPS,
			"bare_loadgen_cores": bareCPU.ownCPU / bareCPU.seconds, "reserva_server_cores": reservaCPU.serverCPU / reservaCPU.seconds,
			"reserva_loadgen_cores":     reservaCPU.ownCPU / reservaCPU.seconds,
			"server_cpu_us_per_request": 1e6 * reservaCPU.serverCPU / n, "server_allocs_per_request": (mallocs2 - mallocs) / n,
			"server_bytes_per_request": (bytes2 - bytes) / n}
	}

	// 5. Mixed traffic at a fixed rate (open loop: latency counts from when a request was due).
	for _, f := range strings.Split(*rates, ",") {
		if !runs("mixed") {
			break
		}
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		log.Printf("mixed traffic: %d req/s for %s over %d businesses (Zipf) ...", rate, *duration, len(active))
		before := serverLatencies(srv.url)
		// Beside it, the bare handler answers a trickle of requests: what the machine and the
		// load generator alone cost a request, under the same load.
		floor := make(chan *run)
		go func() {
			floor <- openLoop(*duration, floorRate, func(*rand.Rand) (string, error) { return "bare", c.get(bare + "/") })
		}()
		timed := openLoop(*duration, rate, func(r *rand.Rand) (string, error) {
			op := pickOp(r)
			return op, c.op(srv.url, active[z.next(r)], op, r)
		})
		timed.logTimeline()
		mixed := timed.summary()
		mixed["bare"] = (<-floor).summary()["bare"]
		mixed["offered_rps"] = float64(rate)
		after := serverLatencies(srv.url)
		for key, route := range map[string]string{"page": "GET /{slug}", "lookup": "POST /{slug}/graphql query", "booking": "POST /{slug}/graphql mutation"} {
			a, b := after[route], before[route]
			if total := a[math.Inf(1)] - b[math.Inf(1)]; total > 0 {
				mixed["server_"+key+"_within_10ms_pct"] = 100 * (a[0.01] - b[0.01]) / total
				mixed["server_"+key+"_within_1ms_pct"] = 100 * (a[0.001] - b[0.001]) / total
			}
		}
		res.Mixed = append(res.Mixed, mixed)
	}

	// 6. Noisy neighbour: others' availability p99, alone and while one business exports and
	// writes (noisyRun), several times: one run's ratio has swung widely.
	quiet := active[1:]
	zq := newZipf(len(quiet))
	measure := func(d time.Duration) *run {
		r := openLoop(d, 300, func(r *rand.Rand) (string, error) {
			return "availability", c.op(srv.url, quiet[zq.next(r)], "availability", r)
		})
		r.logTimeline()
		return r
	}
	for i := range *noisyRuns {
		if !runs("noisy") {
			break
		}
		log.Printf("noisy neighbour, run %d of %d: %s without, %s with, in %d turns each ...", i+1, *noisyRuns, *noiseD, *noiseD, noiseTurns)
		res.Noisy = append(res.Noisy, noisyRun(srv.url, noisy, c, measure))
	}

	// 7. What a 7-day availability lookup allocates in the server, from its Go runtime counters.
	if runs("allocs") {
		log.Printf("counting the server's allocations over %d availability lookups ...", *allocsN)
		res.Allocs = availabilityAllocs(srv.url, active, c)
	}

	// 8. Memory with every business touched once, at the default handle cap.
	if runs("memory") {
		log.Printf("touching all %d businesses ...", len(slugs))
		touchErrors := touchAll(srv.url, slugs)
		rss, fds := procStats(srv.cmd.Process.Pid)
		res.Memory = map[string]float64{"rss_mib": rss, "open_fds": float64(fds), "touch_errors": float64(touchErrors)}
	}

	res.MailSent = mailSink().received.Load()
	printTable(os.Stdout, res)
	b, _ := json.MarshalIndent(res, "", "  ")
	check(os.WriteFile(*out, b, 0o644))
	log.Printf("figures written to %s", *out)
}

// noisyRun measures others' availability p99 alone and beside a business that exports and
// writes. The halves take turns, a few seconds each, so what else the machine does meanwhile
// (the mail job, the VM's neighbours) falls on both alike.
func noisyRun(base, noisy string, c *clients, measure func(time.Duration) *run) map[string]float64 {
	owner := signIn(base, noisy)
	alone, loud := &run{}, &run{}
	var done noiseDone
	for range noiseTurns {
		alone.add(measure(*noiseD / noiseTurns))
		stopNoise := noise(base, noisy, owner, c)
		loud.add(measure(*noiseD / noiseTurns))
		done.add(stopNoise())
	}
	if done.firstErr != nil {
		log.Printf("noisy business: %d writes, %d failed; the first: %v", done.writes, done.writeErrors, done.firstErr)
	}
	as, ls := alone.summary(), loud.summary()
	a, l := as["availability"].(opStats), ls["availability"].(opStats)
	return map[string]float64{"p99_alone_ms": a.P99, "p99_noisy_ms": l.P99, "ratio": l.P99 / a.P99,
		"wanted_exports": b2f(strings.Contains(*noiseKind, "exports")), "wanted_writes": b2f(strings.Contains(*noiseKind, "writes")),
		"noisy_write_errors": float64(done.writeErrors), "export_kib": float64(done.exportBytes) / 1024 / float64(max(done.exports, 1)), "noisy_writes_per_s": float64(done.writes) / loud.seconds,
		"server_cores_alone": as["server_cores"].(float64), "server_cores_noisy": ls["server_cores"].(float64),
		"loadgen_cores_alone": as["loadgen_cores"].(float64), "loadgen_cores_noisy": ls["loadgen_cores"].(float64),
		"exports": float64(done.exports), "noisy_writes": float64(done.writes), "errors": float64(a.Errors + l.Errors),
		"p99_alone_from_sent_ms": a.P99Sent, "p99_noisy_from_sent_ms": l.P99Sent,
		"dispatch_lag_p99_alone_ms": as["dispatch_lag_p99_ms"].(float64), "dispatch_lag_p99_noisy_ms": ls["dispatch_lag_p99_ms"].(float64)}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// noisyRatio is a noisy-neighbour run's ratio, and false when the noise did not do all it was
// asked to (no export finished, no booking made): such a run measured another noise, and its
// ratio says nothing about the one the target is about.
func noisyRatio(n map[string]float64) (float64, bool) {
	if n["wanted_writes"] == 1 && n["noisy_writes"] == 0 || n["wanted_exports"] == 1 && n["exports"] == 0 {
		return 0, false
	}
	return n["ratio"], true
}

// cleanups run before a fatal error ends the program: no server or data left behind.
var cleanups []func()

func check(err error) {
	if err != nil {
		fatal(err)
	}
}

func fatal(args ...any) {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	log.Fatal(args...)
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			_, model, _ = strings.Cut(line, ": ")
			break
		}
	}
	return fmt.Sprintf("%s, %d CPUs", model, countCPUs())
}

func countCPUs() int {
	n := 0
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

// provision creates the fleet: every business timed; the first `active` get the demo catalog,
// the noisy one (the first) many bookings and an owner; `cold` more are left one migration
// behind. It returns the slugs, the behind ones, the noisy one and the figures.
func provision(ctx context.Context, dir string) (slugs, behind []string, noisy string, figs map[string]float64) {
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	check(err)
	defer func() { check(reg.Close()) }()
	quiet := slog.New(slog.DiscardHandler)
	// The businesses one migration behind come first, from a manager that knows one migration fewer.
	all := migrations.Tenant()
	old, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet, Migrations: all[:len(all)-1]})
	check(err)
	for i := range *coldN {
		slug := fmt.Sprintf("behind-%d", i)
		_, err := old.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: "Behind " + slug, Timezone: "Europe/Madrid"})
		check(err)
		behind = append(behind, slug)
	}
	check(old.Close(ctx))

	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet, Spares: 4})
	check(err)
	defer func() { check(m.Close(ctx)) }()
	var took []float64
	start := time.Now()
	for i := range *tenantsN {
		slug := fmt.Sprintf("biz-%d", i)
		t0 := time.Now()
		_, err := m.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: "Business " + strconv.Itoa(i), Timezone: "Europe/Madrid"})
		check(err)
		took = append(took, ms(time.Since(t0)))
		slugs = append(slugs, slug)
	}
	total := time.Since(start)
	figs = map[string]float64{"tenants": float64(*tenantsN), "p50_ms": pct(took, 50), "p99_ms": pct(took, 99),
		"total_s": total.Seconds(), "disk_mib": float64(du(dir)) / (1 << 20)}
	log.Printf("provisioned: p50 %.2f ms, p99 %.2f ms, %.1f s in all; seeding %d catalogs ...", figs["p50_ms"], figs["p99_ms"], figs["total_s"], *activeN)

	for i, slug := range slugs[:*activeN] {
		t, _, err := m.Resolve(ctx, slug)
		check(err)
		l, err := m.Acquire(ctx, t)
		check(err)
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		check(s.SeedDemo(ctx))
		if i == 0 {
			noisy = slug
			_, err := s.CreateUser(ctx, domain.NewUser{Email: "owner@bench.example", Name: "Owner", Role: domain.RoleOwner, Password: "bench password 1"})
			check(err)
			// Its writers must not run out of free times: it takes bookings two years ahead.
			st, err := s.Settings(ctx)
			check(err)
			defaultHorizonDays = int(st.Horizon / (24 * time.Hour))
			st.Horizon = noisyHorizonDays * 24 * time.Hour
			check(s.UpdateSettings(ctx, st))
			fillBookings(ctx, s, l.Location, *noisyRows)
		}
		l.Release()
	}
	return slugs, behind, noisy, figs
}

// fillBookings books up to n customers into the first service over the next 20 days (the
// traffic books from day 21 on), and into past days when the next 20 are full.
func fillBookings(ctx context.Context, s *domain.Store, loc *time.Location, n int) {
	day := domain.DateOf(time.Now().In(loc)).AddDays(1)
	made := 0
	for d := 0; made < n && d < 20; d++ {
		days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: 1, From: day.AddDays(d), To: day.AddDays(d)})
		if err != nil {
			return // past the horizon
		}
		for _, sl := range days[0].Slots {
			if made == n {
				break
			}
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: 1, StaffID: sl.StaffID, Start: sl.Start, OnBehalf: true, Actor: "bench", Quiet: true,
				Customer: domain.Customer{Name: fmt.Sprintf("Customer %d", made), Email: fmt.Sprintf("c%d@bench.example", made)}}); err == nil {
				made++
			}
		}
	}
}

func du(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

type server struct {
	cmd *exec.Cmd
	url string
}

func startServer(dir string, extra ...string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	_ = ln.Close() // only held to find a free port
	// The load generator is the reverse proxy in front of the server, as one is in production:
	// each booking names its own customer's address in X-Forwarded-For (clients.op), so the
	// per-address booking limit applies to customers, not to the load generator.
	args := []string{"serve", "--data", dir, "--addr", addr, "--log-level", "error", "--trusted-proxies", "127.0.0.0/8",
		"--smtp", mailSink().url()}
	if *debugAddr != "" {
		args = append(args, "--debug-addr", *debugAddr)
	}
	cmd := exec.Command(*bin, append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Start())
	s := &server{cmd: cmd, url: "http://" + addr}
	serverPID = cmd.Process.Pid
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			fatal("the server did not get ready")
		}
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM) // fails only when it has exited already
	_ = s.cmd.Wait()                          // a SIGTERMed server exits non-zero by design
}

// clients sends requests; bookings rotate over many loopback source addresses, as many real
// customers would, so the per-client booking limit is not what is measured.
type clients struct {
	plain *http.Client
	ips   []*http.Client
	noisy string   // the business with the long horizon
	slots sync.Map // slug → *slotQueue
}

func newClients() *clients { return newClientsFrom(200) }

// newClientsFrom books from addrs loopback addresses (at most 250 × 254).
func newClientsFrom(addrs int) *clients {
	// A server that stops answering fails the run after responseTimeout. The transports time it,
	// not http.Client.Timeout, which starts a goroutine per request: on a machine shared with
	// the server, the load generator's own wake-ups would show up in the figures.
	c := &clients{plain: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, ResponseHeaderTimeout: responseTimeout}}}
	for i := range addrs {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1+byte(i/250), 1+byte(i%250))}, Timeout: responseTimeout}
		c.ips = append(c.ips, &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, ResponseHeaderTimeout: responseTimeout}})
	}
	return c
}

const responseTimeout = 30 * time.Second

var errStatus = fmt.Errorf("unexpected status")

func (c *clients) get(u string) error {
	res, err := c.plain.Get(u)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body) // drained so the connection is reused
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d: %w", u, res.StatusCode, errStatus)
	}
	return nil
}

type gqlAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// errConflict is a booking refused because the time was taken meanwhile: an answer, not an error.
var errConflict = fmt.Errorf("slot taken")

// errBookedOut is a business with no free time left in its horizon: no request was sent.
var errBookedOut = fmt.Errorf("%w: booked out", errConflict)

// graphql posts query to slug's endpoint; from, when set, is the customer's address the load
// generator forwards as a proxy would (X-Forwarded-For).
func (c *clients) graphql(hc *http.Client, from, base, slug, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, base+"/"+slug+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	var a gqlAnswer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		return fmt.Errorf("%s: status %d: %w", slug, res.StatusCode, err)
	}
	if len(a.Errors) > 0 {
		if code, _ := a.Errors[0].Extensions["code"].(string); code == "SLOT_UNAVAILABLE" {
			return errConflict
		}
		return fmt.Errorf("%s: %s (%v)", slug, a.Errors[0].Message, a.Errors[0].Extensions["code"])
	}
	if out != nil {
		return json.Unmarshal(a.Data, out)
	}
	return nil
}

// The mix a booking site sees: mostly page views, many availability lookups, a few bookings.
func pickOp(r *rand.Rand) string {
	switch n := r.IntN(100); {
	case n < 60:
		return "page"
	case n < 95:
		return "availability"
	}
	return "book"
}

const availabilityQuery = `query($d: Date!) { availability(serviceId: "1", from: $d, to: $d) { date status slots { start staff { id } } } }`

type availability struct {
	Availability []struct {
		Slots []struct {
			Start string `json:"start"`
			Staff struct {
				ID string `json:"id"`
			} `json:"staff"`
		} `json:"slots"`
	} `json:"availability"`
}

// bookingSeq numbers the bookings of this run: their idempotency keys and emails never repeat.
var (
	bookingSeq atomic.Int64
	runID      = time.Now().UnixNano()
)

// slotQueue hands out free times of one business, a day at a time, each once.
// The traffic books from day 21 on, up to the horizon: the businesses' default (read while
// provisioning), the noisy business's 730 days.
const noisyHorizonDays = 730

var defaultHorizonDays int

type slotQueue struct {
	mu    sync.Mutex
	day   int
	slots [][2]string // start, staff id
}

func (c *clients) op(base, slug, op string, r *rand.Rand) error {
	switch op {
	case "page":
		return c.get(base + "/" + slug)
	case "availability":
		day := time.Now().AddDate(0, 0, 1+r.IntN(14)).Format(time.DateOnly)
		return c.graphql(c.plain, "", base, slug, availabilityQuery, map[string]any{"d": day}, nil)
	}
	q, _ := c.slots.LoadOrStore(slug, &slotQueue{})
	sq := q.(*slotQueue)
	sq.mu.Lock()
	last := defaultHorizonDays - 20
	if slug == c.noisy {
		last = noisyHorizonDays - 20
	}
	for len(sq.slots) == 0 && sq.day < last {
		sq.day++
		var a availability
		day := time.Now().AddDate(0, 0, 20+sq.day).Format(time.DateOnly)
		if err := c.graphql(c.plain, "", base, slug, availabilityQuery, map[string]any{"d": day}, &a); err != nil {
			sq.mu.Unlock()
			return err
		}
		// Slots overlap (a 30-minute service with a 10-minute buffer, offered every 15 minutes): take, per staff member,
		// only starts at least a service length apart, so the bookings do not collide.
		free := map[string]time.Time{}
		for _, d := range a.Availability {
			for _, s := range d.Slots {
				at, err := time.Parse(time.RFC3339, s.Start)
				if err != nil || at.Before(free[s.Staff.ID]) {
					continue
				}
				free[s.Staff.ID] = at.Add(40 * time.Minute) // 30 minutes and a 10-minute buffer
				sq.slots = append(sq.slots, [2]string{s.Start, s.Staff.ID})
			}
		}
	}
	if len(sq.slots) == 0 {
		sq.mu.Unlock()
		return errBookedOut
	}
	slot := sq.slots[0]
	sq.slots = sq.slots[1:]
	sq.mu.Unlock()
	n := bookingSeq.Add(1)
	err := c.graphql(c.ips[int(n)%len(c.ips)], customerAddr(n), base, slug, `mutation($i: CreateBookingInput!) { createBooking(input: $i) { booking { id } } }`,
		map[string]any{"i": map[string]any{"serviceId": "1", "staffId": slot[1], "start": slot[0], "idempotencyKey": fmt.Sprintf("bench-%d-%d", runID, n),
			"customer": map[string]any{"name": "Bench Customer", "email": fmt.Sprintf("b%d@bench.example", n)}}}, nil)
	if err != nil && !errors.Is(err, errConflict) {
		// Not booked (refused, or no answer): the time goes back for the next booking, so
		// failing requests do not use up the horizon.
		sq.mu.Lock()
		sq.slots = append([][2]string{slot}, sq.slots...)
		sq.mu.Unlock()
	}
	return err
}

// customerAddr is the address of the customer making booking n: every booking comes from its
// own customer, as on a real booking site, in 10.0.0.0/8.
func customerAddr(n int64) string {
	return fmt.Sprintf("10.%d.%d.%d", byte(n>>16), byte(n>>8), byte(n))
}

type zipf struct {
	mu sync.Mutex
	z  *rand.Zipf
}

func newZipf(n int) *zipf {
	return &zipf{z: rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(n-1))}
}

func (z *zipf) next(*rand.Rand) int { z.mu.Lock(); defer z.mu.Unlock(); return int(z.z.Uint64()) }

// timeFirst times the first request of each business, one at a time.
func timeFirst(base string, slugs []string) []float64 {
	var out []float64
	for _, slug := range slugs {
		t0 := time.Now()
		res, err := http.Get(base + "/" + slug)
		check(err)
		_, _ = io.Copy(io.Discard, res.Body) // drained so the connection is reused
		_ = res.Body.Close()
		if res.StatusCode != 200 {
			fatal(fmt.Sprintf("first request of %s: %d", slug, res.StatusCode))
		}
		out = append(out, ms(time.Since(t0)))
	}
	return out
}

func bareServer() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	// Runs until the process ends: the baseline of what a bare Go server answers.
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }))
	}()
	return "http://" + ln.Addr().String()
}

// closedLoop runs fn from n workers for d and returns the successful requests per second, and
// the CPU the server and the load generator (which runs the bare handler too) used meanwhile.
func closedLoop(d time.Duration, n int, fn func(*rand.Rand) error) (float64, *run) {
	var ok atomic.Int64
	server0, self0 := cpuSeconds(serverPID), cpuSeconds(os.Getpid())
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for time.Now().Before(deadline) {
				if err := fn(r); err == nil || errors.Is(err, errConflict) {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	cpu := &run{seconds: time.Since(start).Seconds(), serverCPU: cpuSeconds(serverPID) - server0, ownCPU: cpuSeconds(os.Getpid()) - self0}
	return float64(ok.Load()) / d.Seconds(), cpu
}

// startProfile writes the load generator's CPU profile to path (none when empty) until the
// returned func is called.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	check(err)
	check(pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		check(f.Close())
	}
}

// cpuSeconds is the user and system CPU time a process has used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return statCPUSeconds(b)
}

// statCPUSeconds reads the user and system CPU time from a /proc/<pid>/stat line.
func statCPUSeconds(b []byte) float64 {
	// The fields after the command name (which may hold spaces) start with the state, field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}

type opStats struct {
	Count     int     `json:"count"`
	Errors    int     `json:"errors"`
	Conflicts int     `json:"conflicts"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	// P99Sent is the p99 timed from when the load generator began sending each request rather
	// than from when it was due: without the load generator's own lateness.
	P99Sent float64 `json:"p99_from_sent_ms"`
}

// sample is one timed request.
type sample struct {
	op  string
	at  int     // second of the run it was due in
	ms  float64 // from when it was due to its answer
	lag float64 // from when it was due to when the load generator began sending it
	err error
}

// run is what one or more timed runs measured: every request, and the CPU the server and the
// load generator used meanwhile.
type run struct {
	samples                    []sample
	seconds, serverCPU, ownCPU float64
}

// add merges o into r.
func (r *run) add(o *run) {
	r.samples = append(r.samples, o.samples...)
	r.seconds, r.serverCPU, r.ownCPU = r.seconds+o.seconds, r.serverCPU+o.serverCPU, r.ownCPU+o.ownCPU
}

// openLoop starts fn rate times a second for d, each on time whether or not earlier ones have
// finished; latency counts from when the request was due.
func openLoop(d time.Duration, rate int, fn func(*rand.Rand) (string, error)) *run {
	var mu sync.Mutex
	var samples []sample
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	server0, self0 := cpuSeconds(serverPID), cpuSeconds(os.Getpid())
	sleep := newSleeper()
	defer sleep.close()
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		sleep.until(due)
		wg.Go(func() {
			lag := ms(time.Since(due))
			r := rand.New(rand.NewPCG(uint64(i), 3))
			op, err := fn(r)
			s := sample{op, int(due.Sub(start) / time.Second), ms(time.Since(due)), lag, err}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	return &run{samples: samples, seconds: time.Since(start).Seconds(),
		serverCPU: cpuSeconds(serverPID) - server0, ownCPU: cpuSeconds(os.Getpid()) - self0}
}

// logTimeline logs each second's p99, with -timeline.
func (r *run) logTimeline() {
	if !*timeline {
		return
	}
	perSecond := map[int][]float64{}
	for _, s := range r.samples {
		perSecond[s.at] = append(perSecond[s.at], s.ms)
	}
	line := "p99 per second (ms):"
	for sec := 0; sec < len(perSecond); sec++ {
		line += fmt.Sprintf(" %.1f", pct(perSecond[sec], 99))
	}
	log.Print(line)
}

// summary is the run's figures per operation, as printed and written to the JSON file.
func (r *run) summary() map[string]any {
	out := map[string]any{"seconds": r.seconds, "achieved_rps": float64(len(r.samples)) / r.seconds,
		"server_cores": r.serverCPU / r.seconds, "loadgen_cores": r.ownCPU / r.seconds}
	byOp, sent := map[string][]float64{}, map[string][]float64{}
	stats := map[string]opStats{}
	var lags []float64
	for _, s := range r.samples {
		lags = append(lags, s.lag)
		st := stats[s.op]
		st.Count++
		switch {
		case errors.Is(s.err, errConflict):
			st.Conflicts++
		case s.err != nil:
			st.Errors++
			if _, ok := out["first_error"]; !ok {
				out["first_error"] = s.err.Error()
			}
		}
		stats[s.op] = st
		byOp[s.op] = append(byOp[s.op], s.ms)
		sent[s.op] = append(sent[s.op], s.ms-s.lag)
	}
	for op, st := range stats {
		st.P50, st.P99, st.P999 = pct(byOp[op], 50), pct(byOp[op], 99), pct(byOp[op], 99.9)
		st.P99Sent = pct(sent[op], 99)
		out[op] = st
	}
	out["dispatch_lag_p50_ms"], out["dispatch_lag_p99_ms"] = pct(lags, 50), pct(lags, 99)
	return out
}

// serverLatencies reads the server's own request-latency histogram (/metrics): per route, how
// many requests it had answered within each bucket's bound (seconds), timed from when the
// request reached its handlers (parsed, before the business was resolved and opened and the
// session loaded) to its answer. Beside what the load generator measures, it tells time spent
// in the server's handlers from time spent around them: waiting for a core, the kernel, the
// load generator.
func serverLatencies(base string) map[string]map[float64]float64 {
	families := scrapeMetrics(base)
	out := map[string]map[float64]float64{}
	for _, m := range families["reserva_http_request_duration_seconds"].GetMetric() {
		route := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" {
				route = l.GetValue()
			}
		}
		buckets := map[float64]float64{math.Inf(1): float64(m.GetHistogram().GetSampleCount())}
		for _, b := range m.GetHistogram().GetBucket() {
			buckets[b.GetUpperBound()] = float64(b.GetCumulativeCount())
		}
		out[route] = buckets
	}
	return out
}

// signIn signs the noisy business's owner in, once for every turn of the noise.
func signIn(base, slug string) *http.Client {
	jar, _ := cookiejar.New(nil)
	owner := &http.Client{Jar: jar, Timeout: 60 * time.Second}
	res, err := owner.PostForm(base+"/"+slug+"/admin/login", url.Values{"email": {"owner@bench.example"}, "password": {"bench password 1"}})
	check(err)
	_ = res.Body.Close()
	return owner
}

// noise makes one business loud: its owner downloads its export again and again while customers
// book it as fast as they can. The returned func stops it and says how much was done.
func noise(base, slug string, owner *http.Client, c *clients) func() noiseDone {
	ctx, cancel := context.WithCancel(context.Background())
	var ex, exBytes, wr, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	exports, writes := strings.Contains(*noiseKind, "exports"), strings.Contains(*noiseKind, "writes")
	wg.Go(func() {
		for exports && ctx.Err() == nil {
			res, err := owner.Get(base + "/" + slug + "/admin/export.zip")
			if err == nil {
				n, _ := io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode == 200 && n > 0 {
					ex.Add(1)
					exBytes.Add(n)
				}
			}
		}
	})
	// The bookings come at a steady rate, from up to 4 writers at once: as fast as the server
	// could take them, one 10 s run would use up the business's free times and make its export
	// several times larger by the third run, which would then measure another noise.
	due := make(chan struct{})
	if writes {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / time.Duration(*noisyRate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					select {
					case due <- struct{}{}:
					default: // all writers busy: the booking is skipped, the rate stays steady
					}
				}
			}
		})
	}
	for w := range 4 {
		if !writes {
			break
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for {
				select {
				case <-ctx.Done():
					return
				case <-due:
				}
				switch err := c.op(base, slug, "book", r); {
				case err == nil:
					wr.Add(1)
				case errors.Is(err, errBookedOut):
					firstErr.CompareAndSwap(nil, &err)
					return // nothing left to book; a spinning writer would load the load generator, not the server
				case !errors.Is(err, errConflict):
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	return func() noiseDone {
		cancel()
		wg.Wait()
		d := noiseDone{exports: int(ex.Load()), exportBytes: exBytes.Load(), writes: int(wr.Load()), writeErrors: int(failed.Load())}
		if e := firstErr.Load(); e != nil {
			d.firstErr = *e
		}
		return d
	}
}

// noiseDone is what the noisy business did: exports downloaded, bookings made and failed.
type noiseDone struct {
	exports, writes, writeErrors int
	exportBytes                  int64
	firstErr                     error
}

func (d *noiseDone) add(o noiseDone) {
	d.exports, d.writes, d.writeErrors = d.exports+o.exports, d.writes+o.writes, d.writeErrors+o.writeErrors
	d.exportBytes += o.exportBytes
	if d.firstErr == nil {
		d.firstErr = o.firstErr
	}
}

// touchAll visits every business once, 8 at a time, and returns how many failed.
func touchAll(base string, slugs []string) int {
	var failed atomic.Int64
	ch := make(chan string)
	var wg sync.WaitGroup
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 8 {
		wg.Go(func() {
			for slug := range ch {
				res, err := c.Get(base + "/" + slug)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body) // drained so the connection is reused
				_ = res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	for _, s := range slugs {
		ch <- s
	}
	close(ch)
	wg.Wait()
	return int(failed.Load())
}

// procStats reads a process's resident memory (MiB) and open file descriptors.
func procStats(pid int) (float64, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	var rss float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			rss = kb / 1024
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rss, len(fds)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func printTable(w io.Writer, r results) {
	fmt.Fprintf(w, "\nReserva under load — %s\n\n", r.Machine)
	p := r.Provisioning
	fmt.Fprintf(w, "Provisioning   %.0f businesses: p50 %.2f ms, p99 %.2f ms per business, %.1f s in all, %.0f MiB on disk\n",
		p["tenants"], p["p50_ms"], p["p99_ms"], p["total_s"], p["disk_mib"])
	fmt.Fprintf(w, "Cold tenant    first request: closed p50 %.2f ms / p99 %.2f ms; closed and one migration behind p50 %.2f ms / p99 %.2f ms\n",
		r.Cold["closed_p50_ms"], r.Cold["closed_p99_ms"], r.Cold["migrating_p50_ms"], r.Cold["migrating_p99_ms"])
	fmt.Fprintf(w, "Ceiling        bare net/http %.0f req/s; Reserva mixed %.0f req/s = %.1f%% of it\n",
		r.Ceiling["bare_rps"], r.Ceiling["reserva_mixed_rps"], 100*r.Ceiling["ratio"])
	fmt.Fprintf(w, "               CPU: the load generator (bare handler included) %.2f cores for the bare run; for Reserva's, the server %.2f, the load generator %.2f\n",
		r.Ceiling["bare_loadgen_cores"], r.Ceiling["reserva_server_cores"], r.Ceiling["reserva_loadgen_cores"])
	fmt.Fprintf(w, "               per Reserva request, the server used %.0f µs of CPU and made %.0f allocations of %.0f bytes in all\n",
		r.Ceiling["server_cpu_us_per_request"], r.Ceiling["server_allocs_per_request"], r.Ceiling["server_bytes_per_request"])
	for _, m := range r.Mixed {
		fmt.Fprintf(w, "Mixed traffic  %.0f req/s offered, %.0f achieved over %.0f s (Zipf over %d businesses); CPU: server %.2f cores, load generator %.2f\n",
			m["offered_rps"], m["achieved_rps"], m["seconds"], *activeN, m["server_cores"], m["loadgen_cores"])
		fmt.Fprintf(w, "  %-13s %8s %7s %9s %9s %9s %9s\n", "operation", "count", "errors", "conflicts", "p50 ms", "p99 ms", "p999 ms")
		for _, op := range []string{"page", "availability", "book"} {
			if s, ok := m[op].(opStats); ok {
				fmt.Fprintf(w, "  %-13s %8d %7d %9d %9.2f %9.2f %9.2f\n", op, s.Count, s.Errors, s.Conflicts, s.P50, s.P99, s.P999)
			}
		}
		fmt.Fprintf(w, "  the server's handlers (/metrics) answered within 10 ms: %.2f%% of page views, %.2f%% of availability lookups, %.2f%% of bookings\n",
			m["server_page_within_10ms_pct"], m["server_lookup_within_10ms_pct"], m["server_booking_within_10ms_pct"])
		fmt.Fprintf(w, "  (within 1 ms: %.2f%%, %.2f%%, %.2f%%);\n",
			m["server_page_within_1ms_pct"], m["server_lookup_within_1ms_pct"], m["server_booking_within_1ms_pct"])
		fmt.Fprintf(w, "  the load generator began sending requests %.2f ms (p50) / %.2f ms (p99) after they were due;\n",
			m["dispatch_lag_p50_ms"], m["dispatch_lag_p99_ms"])
		// A short run may have made no booking: its figures are zero, not a panic.
		p, _ := m["page"].(opStats)
		b, _ := m["book"].(opStats)
		if a, _ := m["availability"].(opStats); a.Count > 0 {
			fmt.Fprintf(w, "  timed from then instead (not the target's measure): p99 %.2f ms page views, %.2f ms availability, %.2f ms bookings\n",
				p.P99Sent, a.P99Sent, b.P99Sent)
		}
		if b, ok := m["bare"].(opStats); ok {
			fmt.Fprintf(w, "  beside it, %d req/s to the bare handler: p50 %.2f ms, p99 %.2f ms (%.2f ms from sending), p999 %.2f ms (%d errors), what the machine and the load generator alone add to a request\n",
				floorRate, b.P50, b.P99, b.P99Sent, b.P999, b.Errors)
		}
		if e, ok := m["first_error"]; ok {
			fmt.Fprintf(w, "  first error: %v\n", e)
		}
	}
	for i, n := range r.Noisy {
		ratio := "no ratio: the noise did not do all it was asked to"
		if x, ok := noisyRatio(n); ok {
			ratio = fmt.Sprintf("ratio %.2f", x)
		}
		fmt.Fprintf(w, "Noisy neighbour run %d: others' availability p99: %.2f ms alone, %.2f ms beside the noise = %s (%0.f exports of %.0f KiB, %0.f writes at %.0f/s, %0.f writes failed; %0.f errors)\n",
			i+1, n["p99_alone_ms"], n["p99_noisy_ms"], ratio, n["exports"], n["export_kib"], n["noisy_writes"], n["noisy_writes_per_s"], n["noisy_write_errors"], n["errors"])
		fmt.Fprintf(w, "               the load generator began sending them %.2f ms (p99) late alone, %.2f ms beside the noise; timed from then: p99 %.2f ms alone, %.2f ms beside the noise\n",
			n["dispatch_lag_p99_alone_ms"], n["dispatch_lag_p99_noisy_ms"], n["p99_alone_from_sent_ms"], n["p99_noisy_from_sent_ms"])
		fmt.Fprintf(w, "               CPU alone: server %.2f cores, load generator %.2f; beside the noise: server %.2f, load generator %.2f\n",
			n["server_cores_alone"], n["loadgen_cores_alone"], n["server_cores_noisy"], n["loadgen_cores_noisy"])
	}
	fmt.Fprintf(w, "Allocations    a 7-day availability lookup over HTTP: %.0f allocations, %.0f bytes in the server per request\n",
		r.Allocs["allocs_per_request"], r.Allocs["bytes_per_request"])
	fmt.Fprintf(w, "Memory         %.0f MiB RSS and %.0f open files with all %.0f businesses touched (%0.f failed)\n",
		r.Memory["rss_mib"], r.Memory["open_fds"], p["tenants"], r.Memory["touch_errors"])
	fmt.Fprintf(w, "Mail           %d messages reached the load generator's SMTP server (the bookings' confirmations, sent as in production)\n\n", r.MailSent)
	printTargets(w, r)
}

// scrapeMetrics reads the server's /metrics, by family name.
func scrapeMetrics(base string) map[string]*dto.MetricFamily {
	res, err := http.Get(base + "/metrics")
	check(err)
	defer func() { _ = res.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	check(err)
	return families
}
