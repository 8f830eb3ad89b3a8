package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The targets of issue #23 measured here, each in one run against a single node started the
// same way (--replica-ack sync to the same loopback S3 server).
const (
	targetForwardMs      = 1.0 // forwarded request overhead p50: non-owner minus owner
	targetClusterBookMs  = 20.0
	targetClusterRatio   = 1.0 // closed-loop throughput of the bench mix, N nodes / 1 node
	targetSignupMs       = 20.0
	clusterClosedWorkers = 32
)

var (
	clusterN = flag.Int("cluster", 0, "measure a cluster (issue #23) of this many `serve --cluster` nodes instead, against one node:\n"+
		"forwarded request overhead, bookings through random nodes, closed-loop throughput and CPU, sign-up")
	clusterTenants = flag.Int("cluster-tenants", 30, "cluster: businesses with a catalog, spread over the nodes")
	clusterSamples = flag.Int("cluster-samples", 200, "cluster: requests timed for the forwarding and booking p50s")
	clusterSignups = flag.Int("cluster-signups", 30, "cluster: sign-ups timed for the provisioning p50")
)

// clusterProc is one `reserva serve` of the cluster run, its output in a file.
type clusterProc struct {
	id, url, logs string
	cmd           *exec.Cmd
}

// startProc starts `reserva serve` on dir with extra flags, its output in logs, and waits until
// it answers /readyz.
func startProc(dir, logs string, extra ...string) *clusterProc {
	addr := freeAddr()
	f, err := os.Create(logs)
	check(err)
	defer func() { _ = f.Close() }() // the process has its own copy
	args := append([]string{"serve", "--data", dir, "--addr", addr, "--log-level", "info", "--trusted-proxies", "127.0.0.0/8"}, extra...)
	cmd := exec.Command(*bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	check(cmd.Start())
	p := &clusterProc{url: "http://" + addr, logs: logs, cmd: cmd}
	cleanups = append(cleanups, p.stop)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(p.url + "/readyz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logs)
			fatal(fmt.Sprintf("%s did not get ready:\n%s", strings.Join(args, " "), out))
		}
	}
}

func (p *clusterProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only when it has exited already
	_ = p.cmd.Wait()                          // a SIGTERMed server exits non-zero by design
}

// awaitLog waits until the process has logged line (a cluster node: "joined the cluster").
func (p *clusterProc) awaitLog(line string, within time.Duration) {
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		out, _ := os.ReadFile(p.logs)
		if strings.Contains(string(out), line) {
			return
		}
		if time.Now().After(deadline) {
			fatal(fmt.Sprintf("%s did not log %s within %s:\n%s", p.id, line, within, out))
		}
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer func() { _ = ln.Close() }() // only held to find a free port
	return ln.Addr().String()
}

// clusterBench measures issue #23's targets: a single `serve --replica-ack sync` and
// *clusterN `serve --cluster` nodes, all replicating to one loopback S3 server, both running
// throughout and measured in turns, so that what else the shared machine does falls on both
// alike. The cluster's businesses, with the demo catalog the bench mix books from (a sign-up
// makes an empty business), are created through the tenancy layer in the first node's
// directory and shipped by one single-node serve; the other nodes start empty: the cluster's
// controller restores that registry from the replica and publishes it to every node, and
// each business is restored from the replica by the node that claims it. The single node's
// are made the same way, in its own directory. Sign-up over HTTP is timed separately.
// It prints the figures and the checklist to w and returns the figures.
func clusterBench(ctx context.Context, dir string, w io.Writer) map[string]map[string]float64 {
	switch {
	case *clusterN < 2:
		log.Fatal("-cluster must be at least 2")
	case *clusterTenants < 2 || *clusterSamples < 1 || *clusterSignups < 1:
		log.Fatal("-cluster-tenants must be at least 2, -cluster-samples and -cluster-signups at least 1")
	}
	s3 := startFakeS3()

	// One node.
	one := filepath.Join(dir, "single")
	check(os.MkdirAll(one, 0o700))
	slugs, noisy := clusterProvision(ctx, one)
	single := startProc(one, filepath.Join(dir, "single.log"), "--replica", replicaOf(s3, "single"), "--replica-ack", "sync")
	single.id = "single"

	// The cluster.
	log.Printf("cluster bench: %d nodes: provisioning in n1's directory, shipped to the replica ...", *clusterN)
	url := replicaOf(s3, "cluster")
	nodes := make([]*clusterProc, *clusterN)
	dirs, addrs := make([]string, *clusterN), make([]string, *clusterN)
	for i := range nodes {
		dirs[i], addrs[i] = filepath.Join(dir, fmt.Sprintf("n%d", i+1)), freeAddr()
	}
	check(os.MkdirAll(dirs[0], 0o700))
	cslugs, cnoisy := clusterProvision(ctx, dirs[0])
	ship := startProc(dirs[0], filepath.Join(dir, "ship.log"), "--replica", url, "--replica-ack", "sync")
	if n := touchAll(ship.url, cslugs); n > 0 {
		fatal(fmt.Sprintf("cluster bench: %d businesses failed to open before shipping", n))
	}
	ship.stop()
	for _, d := range dirs[1:] { // empty: they learn the registry from the controller
		check(os.MkdirAll(d, 0o700))
	}
	for i := range nodes {
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		id := fmt.Sprintf("n%d", i+1)
		nodes[i] = startProc(dirs[i], filepath.Join(dir, id+".log"), "--replica", url, "--replica-ack", "sync",
			"--cluster", "--node-id", id, "--cluster-addr", addrs[i], "--peers", strings.Join(peers, ","))
		nodes[i].id = id
	}
	for _, n := range nodes {
		n.awaitLog(`msg="joined the cluster"`, 60*time.Second)
	}
	log.Printf("cluster bench: %d nodes joined; placing %d businesses ...", len(nodes), len(cslugs))
	owners := place(nodes, cslugs)

	// Each its own clients: their queues of free times are per slug, and both have the same slugs.
	sides := []*side{newSide("single", []*clusterProc{single}, nil, slugs, noisy), newSide("cluster", nodes, owners, cslugs, cnoisy)}
	for _, s := range sides {
		log.Printf("cluster bench: %s: %d bookings one at a time ...", s.name, *clusterSamples)
		s.bookings()
	}
	// The bench mix in turns: one node; the cluster, each request to a random node; the
	// cluster, each to its business's owner (what forwarding costs the throughput).
	log.Printf("cluster bench: the bench mix in a closed loop, %d clients, %s for each of three, in %d turns ...", clusterClosedWorkers, *ceilingD, mixTurns)
	loops := []*mixRun{newMixRun(sides[0], false), newMixRun(sides[1], false), newMixRun(sides[1], true)}
	for range mixTurns {
		for _, l := range loops {
			l.turn(*ceilingD / mixTurns)
		}
	}
	for _, l := range loops {
		l.report()
	}
	log.Printf("cluster bench: %d sign-ups at each ...", *clusterSignups)
	for _, s := range sides {
		maps.Copy(s.figs, signups(s.nodes, rand.New(rand.NewPCG(3, 4))))
	}
	maps.Copy(sides[1].figs, forwardOverhead(nodes, cslugs, owners))
	single.stop()
	for _, n := range nodes {
		n.stop()
	}

	figs := map[string]map[string]float64{"single": sides[0].figs, "cluster": sides[1].figs,
		"machine": {"cpus": float64(countCPUs()), "nodes": float64(*clusterN), "tenants": float64(len(cslugs))}}
	printCluster(w, figs)
	return figs
}

// mixTurns is how many turns each closed-loop run is cut into.
const mixTurns = 4

func replicaOf(s3 *fakeS3, prefix string) string {
	return "s3://reserva/" + prefix + "?endpoint=" + s3.url + "&region=us-east-1"
}

// clusterProvision makes *clusterTenants businesses with a catalog in dir, through the tenancy
// layer (as `make bench` does), and returns their slugs and the one with the long horizon.
func clusterProvision(ctx context.Context, dir string) ([]string, string) {
	*tenantsN, *activeN, *coldN, *noisyRows = *clusterTenants, *clusterTenants, 0, 0
	slugs, _, noisy, _ := provision(ctx, dir)
	return slugs, noisy
}

// place sends each business's first request to one node in turn, which claims it, and returns
// each business's owner as the answer names it (X-Reserva-Node).
func place(nodes []*clusterProc, slugs []string) map[string]string {
	owners := map[string]string{}
	for i, slug := range slugs {
		n := nodes[i%len(nodes)]
		var last string
		for deadline := time.Now().Add(60 * time.Second); owners[slug] == ""; time.Sleep(100 * time.Millisecond) {
			res, err := http.Get(n.url + "/" + slug)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode == http.StatusOK && res.Header.Get("X-Reserva-Node") != "" {
					owners[slug] = res.Header.Get("X-Reserva-Node")
					break
				}
				last = res.Status
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				fatal(fmt.Sprintf("first request of %s at %s: %s", slug, n.id, last))
			}
		}
	}
	return owners
}

// side is the single node or the cluster, with its own clients.
type side struct {
	name   string
	nodes  []*clusterProc
	owners map[string]string // slug → owner's id; nil for one node
	slugs  []string
	c      *clients
	figs   map[string]float64
}

func newSide(name string, nodes []*clusterProc, owners map[string]string, slugs []string, noisy string) *side {
	c := newClientsFrom(1000)
	c.noisy = noisy
	s := &side{name: name, nodes: nodes, owners: owners, slugs: slugs, c: c, figs: map[string]float64{}}
	touchAll(nodes[0].url, slugs)
	return s
}

func (s *side) random(r *rand.Rand) string { return s.nodes[r.IntN(len(s.nodes))].url }

// bookings books *clusterSamples times one after another, each at a random node: the p50 and
// p99. Each business's free times are fetched by a first booking, untimed: what is timed is
// the booking, not the availability lookup before it.
func (s *side) bookings() {
	r := rand.New(rand.NewPCG(1, 2))
	for _, slug := range s.slugs {
		check(s.c.op(s.random(r), slug, "book", r))
	}
	var took []float64
	for i := range *clusterSamples {
		slug, base := s.slugs[i%len(s.slugs)], s.random(r)
		t0 := time.Now()
		check(s.c.op(base, slug, "book", r))
		took = append(took, ms(time.Since(t0)))
	}
	s.figs["booking_p50_ms"], s.figs["booking_p99_ms"] = pct(took, 50), pct(took, 99)
}

// mixRun is the bench mix in a closed loop against one side, over several turns: each
// request to a random node, or (toOwner) to its business's owner.
type mixRun struct {
	s         *side
	toOwner   bool
	z         *zipf
	seconds   float64
	sent, ok  int64
	firstErr  error
	took      map[string][]float64
	cpu       []float64 // each node's CPU seconds
	ownerURLs map[string]string
}

func newMixRun(s *side, toOwner bool) *mixRun {
	m := &mixRun{s: s, toOwner: toOwner, z: newZipf(len(s.slugs)), took: map[string][]float64{}, cpu: make([]float64, len(s.nodes)),
		ownerURLs: map[string]string{}}
	for slug, id := range s.owners {
		for _, n := range s.nodes {
			if n.id == id {
				m.ownerURLs[slug] = n.url
			}
		}
	}
	return m
}

// turn runs the mix for d, as fast as clusterClosedWorkers clients can go.
func (m *mixRun) turn(d time.Duration) {
	cpu0 := make([]float64, len(m.s.nodes))
	for i, n := range m.s.nodes {
		cpu0[i] = cpuSeconds(n.cmd.Process.Pid)
	}
	var sent, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var mu sync.Mutex
	start := time.Now()
	closedLoop(d, clusterClosedWorkers, func(r *rand.Rand) error {
		sent.Add(1)
		slug, op := m.s.slugs[m.z.next(r)], pickOp(r)
		base := m.s.random(r)
		if m.toOwner {
			base = m.ownerURLs[slug]
		}
		t0 := time.Now()
		err := m.s.c.op(base, slug, op, r)
		took := ms(time.Since(t0))
		mu.Lock()
		m.took[op] = append(m.took[op], took)
		mu.Unlock()
		if err != nil && !errors.Is(err, errConflict) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
		}
		return err
	})
	m.seconds += time.Since(start).Seconds()
	for i, n := range m.s.nodes {
		m.cpu[i] += cpuSeconds(n.cmd.Process.Pid) - cpu0[i]
	}
	m.sent += sent.Load()
	m.ok += sent.Load() - failed.Load()
	if e := firstErr.Load(); e != nil && m.firstErr == nil {
		m.firstErr = *e
	}
}

// report puts the run's figures into its side's: requests per second (answered without
// error), failures, each operation's p50 and p99, and each node's CPU (cores, and µs per
// request), keyed under "mix" or "owner_mix".
func (m *mixRun) report() {
	name := "mix"
	if m.toOwner {
		name = "owner_mix"
	}
	if m.firstErr != nil {
		log.Printf("  %s, %s: %d of %d requests failed; the first: %v", m.s.name, name, m.sent-m.ok, m.sent, m.firstErr)
	}
	f := m.s.figs
	f[name+"_rps"], f[name+"_requests"], f[name+"_errors"] = float64(m.ok)/m.seconds, float64(m.sent), float64(m.sent-m.ok)
	for op, xs := range m.took {
		f[name+"_"+op+"_p50_ms"], f[name+"_"+op+"_p99_ms"] = pct(xs, 50), pct(xs, 99)
	}
	n, total := max(1, float64(m.sent)), 0.0
	for i, used := range m.cpu {
		total += used
		f[fmt.Sprintf("%s_node%d_cores", name, i+1)] = used / m.seconds
		f[fmt.Sprintf("%s_node%d_cpu_us_per_request", name, i+1)] = 1e6 * used / n
	}
	f[name+"_cpu_us_per_request"] = 1e6 * total / n
}

// signups signs *clusterSignups businesses up over HTTP (POST /signup), one after another, each
// at a random node and from its own address, and asks another node for each one's page.
func signups(nodes []*clusterProc, r *rand.Rand) map[string]float64 {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: responseTimeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var took []float64
	failed, seen := 0, 0
	var first string
	for i := range *clusterSignups {
		at := r.IntN(len(nodes))
		slug := fmt.Sprintf("signup-%d-%d", runID%1e6, i)
		form := url.Values{"name": {"Signup " + slug}, "slug": {slug}, "timezone": {"Europe/Madrid"},
			"email": {"owner@" + slug + ".example"}, "password": {"bench password 1"}}
		req, err := http.NewRequest(http.MethodPost, nodes[at].url+"/signup", strings.NewReader(form.Encode()))
		check(err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", customerAddr(1<<20+int64(i))) // sign-ups are limited per address
		t0 := time.Now()
		res, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				err = fmt.Errorf("POST /signup at %s: %s", nodes[at].id, res.Status)
			}
		}
		if err != nil {
			failed++
			if first == "" {
				first = err.Error()
			}
			continue
		}
		took = append(took, ms(time.Since(t0)))
		other := nodes[(at+1)%len(nodes)]
		if res, err := hc.Get(other.url + "/" + slug); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				seen++
			}
		}
	}
	if first != "" {
		log.Printf("  %d of %d sign-ups failed; the first: %s", failed, *clusterSignups, first)
	}
	return map[string]float64{"signups": float64(len(took)), "signup_errors": float64(failed), "signup_p50_ms": pct(took, 50),
		"signup_p99_ms": pct(took, 99), "signups_seen_elsewhere": float64(seen)}
}

// forwardOverhead sends the same availability request for a business to its owner and to a
// node that forwards it, in turn, *clusterSamples times each: the p50s and their difference.
func forwardOverhead(nodes []*clusterProc, slugs []string, owners map[string]string) map[string]float64 {
	c := newClientsFrom(1)
	byID := map[string]*clusterProc{}
	for _, n := range nodes {
		byID[n.id] = n
	}
	day := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	vars := map[string]any{"d": day}
	var direct, forwarded []float64
	timeOne := func(base, slug string) float64 {
		t0 := time.Now()
		check(c.graphql(c.plain, "", base, slug, availabilityQuery, vars, nil))
		return ms(time.Since(t0))
	}
	for i := range *clusterSamples + len(slugs) {
		slug := slugs[i%len(slugs)]
		owner := byID[owners[slug]]
		other := nodes[(slices.Index(nodes, owner)+1+i%(len(nodes)-1))%len(nodes)]
		// The first round warms both connections and both nodes' view of the business; the
		// order alternates so that neither is always the second, with a warm cache.
		a, b := 0.0, 0.0
		if i%2 == 0 {
			a, b = timeOne(owner.url, slug), timeOne(other.url, slug)
		} else {
			b, a = timeOne(other.url, slug), timeOne(owner.url, slug)
		}
		if i >= len(slugs) {
			direct, forwarded = append(direct, a), append(forwarded, b)
		}
	}
	d, f := pct(direct, 50), pct(forwarded, 50)
	return map[string]float64{"owner_p50_ms": d, "forwarded_p50_ms": f, "forward_overhead_p50_ms": f - d, "forward_samples": float64(len(direct))}
}

// clusterTargets compares the figures with issue #23's targets. A figure not measured (no
// samples, failed requests) is reported as missed.
func clusterTargets(figs map[string]map[string]float64) []target {
	one, cl, m := figs["single"], figs["cluster"], figs["machine"]
	var out []target
	add := func(name, measured, goal string, met bool) { out = append(out, target{name, measured, goal, met}) }
	if cl["forward_samples"] > 0 {
		add("forwarded request overhead p50", fmt.Sprintf("%+.2f ms (%.2f ms forwarded, %.2f ms at the owner)",
			cl["forward_overhead_p50_ms"], cl["forwarded_p50_ms"], cl["owner_p50_ms"]),
			fmt.Sprintf("<= %.0f ms", targetForwardMs), cl["forward_overhead_p50_ms"] <= targetForwardMs)
	} else {
		add("forwarded request overhead p50", "not measured", fmt.Sprintf("<= %.0f ms", targetForwardMs), false)
	}
	add("acknowledged booking p50, random nodes", fmt.Sprintf("%.2f ms (one node %.2f ms)", cl["booking_p50_ms"], one["booking_p50_ms"]),
		fmt.Sprintf("<= %.0f ms", targetClusterBookMs), cl["booking_p50_ms"] > 0 && cl["booking_p50_ms"] <= targetClusterBookMs)
	ratio := 0.0
	if one["mix_rps"] > 0 {
		ratio = cl["mix_rps"] / one["mix_rps"]
	}
	errs := ""
	if cl["mix_errors"]+one["mix_errors"] > 0 {
		errs = fmt.Sprintf(", %.0f and %.0f failed", cl["mix_errors"], one["mix_errors"])
	}
	add(fmt.Sprintf("bench mix throughput, %.0f nodes / 1", m["nodes"]), fmt.Sprintf("%.2fx (%.0f vs %.0f req/s%s)", ratio, cl["mix_rps"], one["mix_rps"], errs),
		fmt.Sprintf(">= %.1fx", targetClusterRatio), ratio >= targetClusterRatio && cl["mix_errors"] == 0)
	name := "provisioning p50 (sign-up, random nodes)"
	goal := fmt.Sprintf("<= %.0f ms", targetSignupMs)
	if cl["signups"] == 0 {
		add(name, fmt.Sprintf("not measured (%.0f sign-ups failed)", cl["signup_errors"]), goal, false)
	} else {
		measured := fmt.Sprintf("%.2f ms (one node %.2f ms); %.0f of %.0f served by another node",
			cl["signup_p50_ms"], one["signup_p50_ms"], cl["signups_seen_elsewhere"], cl["signups"])
		if cl["signup_errors"] > 0 {
			measured += fmt.Sprintf(", %.0f failed", cl["signup_errors"])
		}
		add(name, measured, goal, cl["signup_p50_ms"] <= targetSignupMs && cl["signup_errors"] == 0 && cl["signups_seen_elsewhere"] == cl["signups"])
	}
	return out
}

// printCluster writes the figures of both runs and issue #23's checklist.
func printCluster(w io.Writer, figs map[string]map[string]float64) {
	m := figs["machine"]
	fmt.Fprintf(w, "\nCluster (issue #23): %.0f `serve --cluster` nodes against one node, both --replica-ack sync to one loopback S3, %.0f businesses, %.0f CPUs\n",
		m["nodes"], m["tenants"], m["cpus"])
	for _, k := range []string{"single", "cluster"} {
		f := figs[k]
		fmt.Fprintf(w, "  %-7s booking one at a time p50 %.2f ms, p99 %.2f ms; sign-up p50 %.2f ms, p99 %.2f ms (%.0f made, %.0f failed)\n",
			k, f["booking_p50_ms"], f["booking_p99_ms"], f["signup_p50_ms"], f["signup_p99_ms"], f["signups"], f["signup_errors"])
		loops := []string{"mix"}
		if k == "cluster" {
			loops = append(loops, "owner_mix")
		}
		for _, l := range loops {
			to := map[string]string{"mix": "random nodes", "owner_mix": "each to its owner"}[l]
			fmt.Fprintf(w, "          bench mix, %d clients, %s: %.0f req/s (%.0f requests, %.0f failed), p50/p99 ms: page %.2f/%.2f, availability %.2f/%.2f, booking %.2f/%.2f\n",
				clusterClosedWorkers, to, f[l+"_rps"], f[l+"_requests"], f[l+"_errors"], f[l+"_page_p50_ms"], f[l+"_page_p99_ms"],
				f[l+"_availability_p50_ms"], f[l+"_availability_p99_ms"], f[l+"_book_p50_ms"], f[l+"_book_p99_ms"])
			line := fmt.Sprintf("          server CPU %.0f µs per request", f[l+"_cpu_us_per_request"])
			for i := 1; i <= int(m["nodes"]) && k == "cluster"; i++ {
				line += fmt.Sprintf("; n%d %.2f cores, %.0f µs per request", i, f[fmt.Sprintf("%s_node%d_cores", l, i)], f[fmt.Sprintf("%s_node%d_cpu_us_per_request", l, i)])
			}
			if k == "single" {
				line += fmt.Sprintf(" (%.2f cores)", f[l+"_node1_cores"])
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "  one machine with %.0f CPUs runs every node and the load generator: the cluster cannot show more throughput than one node here, only that forwarding costs little\n",
		m["cpus"])
	fmt.Fprintln(w, "  a sign-up hashes the owner's password (argon2id, the OWASP minimum: docs/perf.md) and, in a cluster, is forwarded to the registry's controller")
	fmt.Fprintln(w, "Issue #23 targets")
	for _, t := range clusterTargets(figs) {
		mark := "MISSED"
		if t.met {
			mark = "met"
		}
		fmt.Fprintf(w, "  %-6s  %-40s %-70s target %s\n", mark, t.name, t.measured, t.goal)
	}
	fmt.Fprintln(w)
}
