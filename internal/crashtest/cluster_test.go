package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/versitygw"
)

// TestClusterProof is issue #23's proof on loopback: versitygw, three `reserva serve --cluster`
// processes sharing it as their replica (--replica-ack sync), businesses signed up over HTTP at
// random nodes (the controller serves each sign-up) and spread over the three with `cluster
// move`, a bounded load of idempotent bookings sent to random nodes, and faults in turn: kill -9
// of an owner (restarted after), SIGSTOP of an owner for 15 s then SIGCONT, kill -9 of the
// controller (a sign-up at a surviving node must then succeed within signUpWithin, and the new
// business be served by every node), a rolling restart of all three, planned moves. After
// each: every acknowledged booking exists exactly once in its current owner's file, nothing
// overlaps, integrity_check passes on every owner's file, no node acknowledged a write after
// another node's claim of a later epoch had completed, no business was claimed more than
// twice in 5 s; and a table of the time from the fault to the first acknowledged write of each
// affected business (targets: p50 ≤ 6 s, max ≤ 15 s).
//
// `make test` runs the short form (one kill -9); `make clustertest` the whole proof
// (RESERVA_CLUSTER_PROOF=full). Skipped without versitygw unless CI=true.
func TestClusterProof(t *testing.T) {
	full := os.Getenv("RESERVA_CLUSTER_PROOF") == "full"
	gw := versitygw.Start(t)
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the reserva processes inherit it
	}
	tenants := envInt("RESERVA_CLUSTER_TENANTS", map[bool]int{true: 12, false: 6}[full])
	dir := t.TempDir()
	rig := newClusterRig(t, buildReserva(t, dir), gw.ReplicaURL("cluster"), dir, 3)
	if keep := os.Getenv("RESERVA_CLUSTER_LOGS"); keep != "" {
		t.Cleanup(func() { rig.keepLogs(keep) })
	}
	for _, n := range rig.nodes {
		rig.startNode(n)
	}
	rig.provision(tenants)
	rig.provisionIdle(envInt("RESERVA_CLUSTER_IDLE", map[bool]int{true: 6, false: 3}[full]))
	rig.place(rig.slugs)
	rig.place(rig.idle)
	ld := newClusterLoad(rig)

	all := map[string]clusterFault{
		"kill":       {"kill -9 an owner, restart it", rig.killOwner},
		"pause":      {"SIGSTOP an owner 15 s, SIGCONT", rig.pauseOwner},
		"roll":       {"rolling restart of all three", rig.rollingRestart},
		"move":       {"planned move (cluster move)", rig.moveBusinesses},
		"controller": {"kill -9 the controller, restart it", rig.killController},
	}
	which := "kill"
	if full {
		which = "kill,pause,controller,roll,move"
	}
	if v := os.Getenv("RESERVA_CLUSTER_FAULTS"); v != "" {
		which = v
	}
	var faults []clusterFault
	for name := range strings.SplitSeq(which, ",") {
		f, ok := all[name]
		if !ok {
			t.Fatalf("RESERVA_CLUSTER_FAULTS: no fault %q (kill, pause, controller, roll, move)", name)
		}
		faults = append(faults, f)
	}
	var report []string
	// The table of the faults done so far, also when one of them stops the test (t.Fatal).
	defer func() {
		ld.mu.Lock() // a fault that stopped the test left the load running
		sent, answers := len(ld.sent), fmt.Sprint(ld.outcomes)
		ld.mu.Unlock()
		t.Logf("bookings sent %d, acknowledged %d; answers: %s", sent, ld.acked(), answers)
		t.Logf("warnings and errors the nodes logged:\n%s", rig.problems())
		t.Logf("time from the fault to the first acknowledged write of each business the faulted node owned "+
			"(targets p50 <= 6s, max <= 15s; \"idle\" rows: to the claim of those nobody requests):\n%-34s %-5s %4s %8s %8s %7s %7s\n%s", "fault", "node", "biz", "p50", "max", "failed", "(biz)",
			strings.Join(report, "\n"))
		for _, d := range rig.signUpAfterKill {
			t.Logf("kill -9 of the controller: the first sign-up succeeded %s after the fault (bound %s)", d.Round(10*time.Millisecond), signUpWithin)
		}
	}()
	for _, f := range faults {
		t.Logf("fault: %s", f.name)
		ctx, stop := context.WithCancel(context.Background())
		done := ld.run(ctx)
		ld.waitAcks(t, 20, 30*time.Second) // load flowing before the fault
		hits := f.inject(ld)
		stop()
		<-done
		for _, h := range hits {
			if len(h.firstAck) < len(h.affected) {
				t.Errorf("%s: of the %d businesses %s owned, %d had no acknowledged write within the wait",
					f.name, len(h.affected), h.node, len(h.affected)-len(h.firstAck))
			}
		}
		rig.check(t, f.name, ld)
		for _, h := range hits {
			report = append(report, h.row(f.name, ld))
			if len(h.idle) > 0 && h.idleClaim != nil {
				report = append(report, h.idleRow())
			}
		}
		if t.Failed() {
			break
		}
	}
}

// clusterFault is one fault of the proof: inject runs it while the load runs, waits until
// the businesses it hit are served again, and returns the faults it made (a rolling restart
// makes three).
type clusterFault struct {
	name   string
	inject func(*clusterLoad) []faultHit
}

// faultHit is one fault's blow: at when, to node, which owned affected.
type faultHit struct {
	node     string
	when     time.Time
	affected []string
	firstAck map[string]time.Duration // per affected business
	// idle are the idle businesses the node owned (cluster_idle_test.go); idleClaim the time
	// from the fault to another node's claim of each, when the fault waits for it.
	idle      []string
	idleClaim map[string]time.Duration
}

// row is the fault's line of the table: how many businesses it hit, the p50 and max of the
// time to their first acknowledged write, and the requests that failed from the fault until
// the last of them was served again (all businesses, and the affected ones).
func (h faultHit) row(name string, ld *clusterLoad) string {
	var ds []time.Duration
	var until time.Time
	for _, d := range h.firstAck {
		ds = append(ds, d)
		until = maxTime(until, h.when.Add(d))
	}
	slices.Sort(ds)
	p50, mx := "-", "-"
	if len(ds) > 0 {
		p50, mx = ds[(len(ds)-1)/2].Round(10*time.Millisecond).String(), ds[len(ds)-1].Round(10*time.Millisecond).String()
	}
	all, hit := ld.failedBetween(h.when, until, h.affected)
	missing := len(h.affected) - len(ds)
	line := fmt.Sprintf("%-34s %-5s %4d %8s %8s %7d %7d", name, h.node, len(h.affected), p50, mx, all, hit)
	if missing > 0 {
		line += fmt.Sprintf("  (%d never served again)", missing)
	}
	return line
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// clusterNode is one node: its id, data directory and cluster address stay; its HTTP address
// changes with each run.
type clusterNode struct {
	id, data, addr string
	srv            *server
	logs           []string // every run's log file, oldest first
}

// clusterRig is the cluster under test.
type clusterRig struct {
	t          *testing.T
	bin, url   string
	nodes      []*clusterNode
	slugs      []string
	ids        map[string]string // slug → tenant id
	mu         sync.Mutex        // guards the nodes' srv (the load reads them)
	clientPool []*http.Client
	signUps    int      // sign-ups sent so far (each takes the next client address)
	extra      []string // businesses signed up during a fault (not booked by the load)
	idle       []string // businesses never requested after their placement (cluster_idle_test.go)
	// signUpAfterKill is, per kill of the controller, the time to the first successful sign-up.
	signUpAfterKill []time.Duration
}

func newClusterRig(t *testing.T, bin, url, dir string, n int) *clusterRig {
	r := &clusterRig{t: t, bin: bin, url: url, ids: map[string]string{}}
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		_ = ln.Close() // freed for the node
	}
	for i := range n {
		r.nodes = append(r.nodes, &clusterNode{id: fmt.Sprintf("n%d", i+1), data: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), addr: addrs[i]})
	}
	// Each client speaks from its own loopback address: the booking limit counts per business
	// and address, and the owner sees the client's address through the forwarder
	// (--trusted-proxies 127.0.0.1/32; the nodes connect from 127.0.0.1).
	for i := range 64 {
		d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}}
		tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, Proxy: nil}
		t.Cleanup(tr.CloseIdleConnections)
		r.clientPool = append(r.clientPool, &http.Client{Timeout: 10 * time.Second, Transport: tr})
	}
	return r
}

// startNode starts a run of n and waits until it has joined the cluster.
func (r *clusterRig) startNode(n *clusterNode) {
	t := r.t
	t.Helper()
	var peers []string
	for _, o := range r.nodes {
		if o != n {
			peers = append(peers, o.addr)
		}
	}
	s := start(t, r.bin, n.data, "--log-level", "info", "--trusted-proxies", "127.0.0.1/32",
		"--replica", r.url, "--replica-ack", "sync",
		"--cluster", "--node-id", n.id, "--cluster-addr", n.addr, "--peers", strings.Join(peers, ","))
	r.mu.Lock()
	n.srv = s
	n.logs = append(n.logs, s.logs)
	r.mu.Unlock()
}

// awaitJoined waits until n's current run has joined the cluster (its coordinator runs: it
// serves and forwards).
func (r *clusterRig) awaitJoined(n *clusterNode, within time.Duration) {
	t := r.t
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(n.srv.output(), `msg="joined the cluster"`) {
			return
		}
		select {
		case <-n.srv.exited:
			t.Fatalf("%s exited:\n%s", n.id, n.srv.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not join the cluster within %s:\n%s", n.id, within, n.srv.output())
		}
	}
}

// keepLogs copies every run's log into dir (RESERVA_CLUSTER_LOGS), to read after the test.
func (r *clusterRig) keepLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Error(err)
		return
	}
	for _, n := range r.nodes {
		for i, p := range n.logs {
			out, err := os.ReadFile(p)
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-run%d.log", n.id, i+1)), out, 0o644)
			}
			if err != nil {
				r.t.Error(err)
			}
		}
	}
}

// logs is every node's output, for a failure's message.
func (r *clusterRig) logs() string {
	var b strings.Builder
	for _, n := range r.nodes {
		for i, p := range n.logs {
			out, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "=== %s run %d\n%s", n.id, i+1, out)
		}
	}
	return b.String()
}

var levelLine = regexp.MustCompile(`^time=\S+ level=(WARN|ERROR) msg=("(?:[^"\\]|\\.)*"|\S+)`)

var number = regexp.MustCompile(`[0-9]+`)

// problems counts the warnings and errors the nodes logged, by node, level and message.
func (r *clusterRig) problems() string {
	count := map[string]int{}
	for _, n := range r.nodes {
		for _, p := range n.logs {
			out, _ := os.ReadFile(p)
			for line := range strings.SplitSeq(string(out), "\n") {
				if m := levelLine.FindStringSubmatch(line); m != nil {
					// Addresses, ids and attempt numbers vary from line to line.
					count[n.id+" "+m[1]+" "+number.ReplaceAllString(m[2], "N")]++
				}
			}
		}
	}
	var lines []string
	for k, v := range count {
		lines = append(lines, fmt.Sprintf("%5d %s", v, k))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// claim is a node's log line saying it claimed a business.
type claim struct {
	when   time.Time
	tenant string // slug
	node   string
	epoch  string
}

var claimLine = regexp.MustCompile(`^time=(\S+) level=INFO msg="claimed a business" tenant=(\S+) node=(\S+) epoch=(\d+)`)

// claims reads every claim from every run's log, oldest first.
func (r *clusterRig) claims() []claim {
	var cs []claim
	r.mu.Lock()
	var files []string
	for _, n := range r.nodes {
		files = append(files, n.logs...)
	}
	r.mu.Unlock()
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			r.t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			m := claimLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			when, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				r.t.Fatalf("claim line %q: %v", sc.Text(), err)
			}
			cs = append(cs, claim{when: when, tenant: m[2], node: m[3], epoch: m[4]})
		}
		_ = f.Close() // read only
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].when.Before(cs[j].when) })
	return cs
}

// owners is each business's owner as of at, by the claims logged before it.
func (r *clusterRig) owners(at time.Time) map[string]string {
	own := map[string]string{}
	for _, c := range r.claims() {
		if c.when.After(at) {
			break
		}
		own[c.tenant] = c.node
	}
	return own
}

// owned lists the businesses node owned at at.
func (r *clusterRig) owned(node string, at time.Time) []string {
	var out []string
	for slug, n := range r.owners(at) {
		if n == node && slices.Contains(r.slugs, slug) { // the load books these only
			out = append(out, slug)
		}
	}
	slices.Sort(out)
	return out
}

// busiest is the node that owns the most businesses now.
func (r *clusterRig) busiest() *clusterNode {
	count := map[string]int{}
	for slug, n := range r.owners(time.Now()) {
		if slices.Contains(r.slugs, slug) {
			count[n]++
		}
	}
	best := r.nodes[0]
	for _, n := range r.nodes {
		if count[n.id] > count[best.id] {
			best = n
		}
	}
	return best
}

// hit records a fault on node now, and the businesses it owned.
func (r *clusterRig) hit(node string) faultHit {
	now := time.Now()
	return faultHit{node: node, when: now, affected: r.owned(node, now), idle: r.ownedIdle(node, now)}
}

// killOwner kills the busiest owner with SIGKILL, waits until its businesses are served
// elsewhere, and starts it again.
func (r *clusterRig) killOwner(ld *clusterLoad) []faultHit {
	n := r.busiest()
	h := r.hit(n.id)
	if err := n.srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-n.srv.exited
	ld.awaitServed(r.t, &h, 45*time.Second)
	r.awaitAdopted(&h, idleAdoptWithin) // before n is back: it would claim them itself
	r.startNode(n)
	r.awaitJoined(n, 60*time.Second)
	ld.waitAcks(r.t, 20, 30*time.Second) // the cluster of three serves again
	return []faultHit{h}
}

// pauseOwner stops the busiest owner with SIGSTOP for 15 s, then lets it go on (SIGCONT): its
// businesses are claimed by the others meanwhile, and it must never acknowledge their writes
// once it resumes (the write rule's fence; checked by rig.check).
func (r *clusterRig) pauseOwner(ld *clusterLoad) []faultHit {
	n := r.busiest()
	h := r.hit(n.id)
	if err := n.srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
	resume := time.After(15 * time.Second)
	ld.awaitServed(r.t, &h, 15*time.Second)
	<-resume
	if err := n.srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatal(err)
	}
	if len(h.firstAck) < len(h.affected) {
		ld.awaitServed(r.t, &h, 30*time.Second)
	}
	ld.waitAcks(r.t, 40, 30*time.Second) // the resumed node takes requests again
	return []faultHit{h}
}

// rollSettle is how long a rolling restart lets a restarted node run before it stops the next.
const rollSettle = 5 * time.Second

// rollingRestart stops each node in turn with SIGTERM, starts it again and waits until it
// has joined, with the load running throughout.
func (r *clusterRig) rollingRestart(ld *clusterLoad) []faultHit {
	var hits []faultHit
	for _, n := range r.nodes {
		h := r.hit(n.id)
		if err := n.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			r.t.Fatal(err)
		}
		select {
		case <-n.srv.exited:
		case <-time.After(30 * time.Second):
			r.t.Fatalf("%s did not stop within 30 s of SIGTERM", n.id)
		}
		r.t.Logf("%s stopped %s after SIGTERM", n.id, time.Since(h.when).Round(time.Millisecond))
		ld.awaitServed(r.t, &h, 45*time.Second)
		r.startNode(n)
		r.awaitJoined(n, 60*time.Second)
		joined := time.Now()
		ld.waitAcks(r.t, 20, 30*time.Second)
		hits = append(hits, h)
		// As a deploy tool would, the next node stops once this one has been up a while
		// (5 s, the claim-storm check's window: each stop moves a business at most once in it).
		time.Sleep(time.Until(joined.Add(rollSettle)))
	}
	return hits
}

// urls are the nodes' current HTTP addresses (a killed node's too: a client keeps sending
// to it, as a load balancer would until its check fails).
func (r *clusterRig) urls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.nodes {
		out = append(out, n.srv.url)
	}
	return out
}

// node returns the node with id.
func (r *clusterRig) node(id string) *clusterNode {
	for _, n := range r.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// check runs, with the load stopped and every node running, the checks after a fault.
func (r *clusterRig) check(t *testing.T, fault string, ld *clusterLoad) {
	t.Helper()
	// Each business's current owner, as any node answers for it: the node that served.
	owner := map[string]string{}
	for _, slug := range r.slugs {
		urls := r.urls()
		var last string
		for deadline := time.Now().Add(30 * time.Second); owner[slug] == ""; time.Sleep(100 * time.Millisecond) {
			res, err := http.Get(urls[rand.IntN(len(urls))] + "/" + slug + "/")
			if err == nil {
				_ = res.Body.Close() // the status and header are the answer
				if res.StatusCode == http.StatusOK {
					owner[slug] = res.Header.Get("X-Reserva-Node")
					break
				}
				last = res.Status
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after %q, not served: %s\n%s", slug, fault, last, r.logs())
			}
		}
	}
	logged := r.owners(time.Now())
	lost := 0
	for _, slug := range r.slugs {
		n := r.node(owner[slug])
		if n == nil {
			t.Errorf("%s: served by %q, no node of the cluster", slug, owner[slug])
			continue
		}
		if logged[slug] != n.id {
			t.Errorf("%s: served by %s, but the last claim logged is %s's", slug, n.id, logged[slug])
		}
		lost += checkDatabase(t, slug, r.tenantFile(n, slug), ld.sent, false)
	}
	// No acknowledgement in a superseded epoch: once another node's claim had completed (it
	// logs it after creating the epoch's marker), a write sent after it and acknowledged by a
	// node that did not claim the business again before answering broke the write rule.
	cs := r.claims()
	superseded := 0
	for _, b := range ld.sent {
		if !b.acked {
			continue
		}
		var prior *claim
		for i := range cs {
			if cs[i].tenant == b.tenant && cs[i].when.Before(b.sentAt) {
				prior = &cs[i]
			}
		}
		if prior == nil || prior.node == b.node {
			continue
		}
		if !slices.ContainsFunc(cs, func(c claim) bool {
			return c.tenant == b.tenant && c.node == b.node && !c.when.Before(prior.when) && !c.when.After(b.ackedAt)
		}) {
			superseded++
			t.Errorf("%s: booking %s acknowledged by %s at %s, sent at %s, after %s claimed epoch %s at %s",
				b.tenant, b.key, b.node, b.ackedAt.Format(time.StampMilli), b.sentAt.Format(time.StampMilli),
				prior.node, prior.epoch, prior.when.Format(time.StampMilli))
		}
	}
	// No claim storm: at most two claims of a business within any 5 s.
	storms := 0
	per := map[string][]time.Time{}
	for _, c := range cs {
		per[c.tenant] = append(per[c.tenant], c.when)
	}
	for slug, ts := range per {
		for i := range ts {
			if i+2 < len(ts) && ts[i+2].Sub(ts[i]) < 5*time.Second {
				storms++
				t.Errorf("%s claimed 3 times within %s (from %s)", slug, ts[i+2].Sub(ts[i]).Round(time.Millisecond), ts[i].Format(time.StampMilli))
				break
			}
		}
	}
	fenced := strings.Count(r.logs(), `msg="fenced: another node claimed the business`)
	t.Logf("after %q: %d claims so far, owners %v; %d acknowledged bookings checked, %d lost, %d in a superseded epoch, %d claim storms; "+
		"%d writes refused by the write rule's fence so far",
		fault, len(cs), owner, ld.acked(), lost, superseded, storms, fenced)
}

// tenantFile is the path of business slug's database in n's data directory.
func (r *clusterRig) tenantFile(n *clusterNode, slug string) string {
	r.t.Helper()
	id := r.ids[slug]
	matches, _ := filepath.Glob(filepath.Join(n.data, "tenants", "*", id+".db"))
	if len(matches) == 1 {
		return matches[0]
	}
	r.t.Fatalf("database of %s not found in %s", slug, n.data)
	return ""
}

// clusterLoad is the bookings sent to the cluster and every attempt's outcome.
type clusterLoad struct {
	rig      *clusterRig
	mu       sync.Mutex
	sent     []*booking
	retry    []pendingRetry // unanswered: sent again, with the same key, oldest first
	attempts []attempt
	outcomes map[string]int
	services map[string]string   // slug → the service booked
	slots    map[string][]string // slug → free start times
}

// pendingRetry is a booking whose last attempt failed at failedAt.
type pendingRetry struct {
	b        *booking
	failedAt time.Time
}

// attempt is one request of the load.
type attempt struct {
	tenant     string
	sent, done time.Time
	acked      bool
	failed     bool // no answer, or "try again"
}

func newClusterLoad(r *clusterRig) *clusterLoad {
	ld := &clusterLoad{rig: r, outcomes: map[string]int{}, services: map[string]string{}, slots: map[string][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, slug := range r.slugs {
		base := r.urls()[0]
		res, err := gql(ctx, base, slug, `{ services { id } }`, nil)
		if err != nil || len(res.Data.Services) == 0 {
			r.t.Fatalf("%s: services: %v %+v", slug, err, res.Errors)
		}
		svc := res.Data.Services[0].ID
		ld.services[slug] = svc
		from := time.Now().AddDate(0, 0, 2).Format(time.DateOnly)
		to := time.Now().AddDate(0, 0, 30).Format(time.DateOnly)
		res, err = gql(ctx, base, slug, `query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { start } } }`,
			map[string]any{"s": svc, "f": from, "t": to})
		if err != nil || len(res.Errors) > 0 {
			r.t.Fatalf("%s: availability: %v %+v", slug, err, res.Errors)
		}
		seen := map[string]bool{}
		for _, d := range res.Data.Availability {
			for _, sl := range d.Slots {
				if !seen[sl.Start] {
					seen[sl.Start] = true
					ld.slots[slug] = append(ld.slots[slug], sl.Start)
				}
			}
		}
		if len(ld.slots[slug]) < 100 {
			r.t.Fatalf("%s: only %d free start times", slug, len(ld.slots[slug]))
		}
	}
	return ld
}

// loadRate is how many bookings a second the load sends, at most; loadInFlight bounds the
// requests waiting for an answer (a paused node holds its connections until the client's
// timeout: each request has its own goroutine, so that those do not hold back the others, as
// with real clients).
const (
	loadRate     = 25
	loadInFlight = 400
)

// run sends bookings until ctx ends: first what earlier runs left unanswered, to random
// nodes, from random client addresses. done is closed when the last request has ended.
func (ld *clusterLoad) run(ctx context.Context) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		slots := make(chan struct{}, loadInFlight)
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // at the bound: this tick sends nothing
			}
			b := ld.next()
			if b == nil {
				<-slots
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				ld.send(ctx, b)
			})
		}
	}()
	return ch
}

// next is the booking to send now: one left unanswered, else a new one at a free time (which
// stays free for another booking a third of the time: two customers may want one time, and
// the business has two staff for it; a third must be refused).
func (ld *clusterLoad) next() *booking {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	// A client tries again a quarter of a second after a failure, with the same key.
	if len(ld.retry) > 0 && time.Since(ld.retry[0].failedAt) >= 250*time.Millisecond {
		b := ld.retry[0].b
		ld.retry = ld.retry[1:]
		return b
	}
	slug := ld.rig.slugs[rand.IntN(len(ld.rig.slugs))]
	free := ld.slots[slug]
	if len(free) == 0 {
		return nil
	}
	i := rand.IntN(len(free))
	start := free[i]
	if rand.IntN(3) != 0 {
		free[i] = free[len(free)-1]
		ld.slots[slug] = free[:len(free)-1]
	}
	b := &booking{tenant: slug, service: ld.services[slug], start: start, key: fmt.Sprintf("c-%s-%d", slug, rand.Int64())}
	ld.sent = append(ld.sent, b)
	return b
}

// send sends b once to a random node and records what came of it.
func (ld *clusterLoad) send(ctx context.Context, b *booking) {
	urls := ld.rig.urls()
	client := ld.rig.clientPool[rand.IntN(len(ld.rig.clientPool))]
	body, _ := json.Marshal(map[string]any{"query": createBooking, "variables": map[string]any{"input": map[string]any{
		"serviceId": b.service, "start": b.start, "idempotencyKey": b.key,
		"customer": map[string]any{"name": "Cluster " + b.key, "email": b.key + "@cluster.example"}}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[rand.IntN(len(urls))]+"/"+b.tenant+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	a := attempt{tenant: b.tenant, sent: time.Now()}
	var r gqlResult
	var node, outcome string
	res, err := client.Do(req)
	if err == nil {
		node = res.Header.Get("X-Reserva-Node")
		if derr := json.NewDecoder(res.Body).Decode(&r); derr != nil {
			err = fmt.Errorf("status %d: %w", res.StatusCode, derr)
		}
		_ = res.Body.Close() // read
	}
	a.done = time.Now()
	retry := true
	switch {
	case errors.Is(err, context.Canceled):
		outcome = "cancelled at the end of the load"
	case errors.Is(err, syscall.ECONNREFUSED):
		outcome = "connection refused"
	case err != nil && res != nil:
		outcome = fmt.Sprintf("HTTP %d", res.StatusCode)
	case err != nil:
		outcome = "no answer"
	case len(r.Errors) > 0:
		code, _ := r.Errors[0].Extensions["code"].(string)
		outcome = code
		// A fault of the platform: the booking may or may not be saved; the key makes the
		// retry safe. Anything else is the business's answer (the time is taken, ...).
		retry = code == "" || code == "TENANT_UNAVAILABLE" || code == "INTERNAL" || code == "RATE_LIMITED"
	case r.Data.CreateBooking.Booking.ID != "":
		outcome, retry, a.acked = "booked", false, true
	default:
		outcome = "empty answer"
	}
	a.failed = retry
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.outcomes[outcome]++
	ld.attempts = append(ld.attempts, a)
	switch {
	case a.acked:
		b.acked, b.answered, b.id, b.node, b.sentAt, b.ackedAt = true, true, r.Data.CreateBooking.Booking.ID, node, a.sent, a.done
	case retry:
		ld.retry = append(ld.retry, pendingRetry{b, a.done})
	default:
		b.answered = true
	}
}

// acked counts the acknowledged bookings.
func (ld *clusterLoad) acked() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	n := 0
	for _, b := range ld.sent {
		if b.acked {
			n++
		}
	}
	return n
}

// waitAcks waits until n more bookings have been acknowledged.
func (ld *clusterLoad) waitAcks(t *testing.T, n int, within time.Duration) {
	t.Helper()
	want := ld.acked() + n
	for deadline := time.Now().Add(within); ld.acked() < want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d bookings acknowledged within %s; answers: %v\n%s", n, within, ld.outcomes, ld.rig.logs())
		}
	}
}

// awaitServed waits until every business h affected has an acknowledged write sent after the
// fault, and records the time from the fault to it.
func (ld *clusterLoad) awaitServed(t *testing.T, h *faultHit, within time.Duration) {
	t.Helper()
	if h.firstAck == nil {
		h.firstAck = map[string]time.Duration{}
	}
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		ld.mu.Lock()
		for _, a := range ld.attempts {
			if a.acked && a.sent.After(h.when) && slices.Contains(h.affected, a.tenant) {
				if d, ok := h.firstAck[a.tenant]; !ok || a.done.Sub(h.when) < d {
					h.firstAck[a.tenant] = a.done.Sub(h.when)
				}
			}
		}
		ld.mu.Unlock()
		if len(h.firstAck) == len(h.affected) || time.Now().After(deadline) {
			return
		}
	}
}

// failedBetween counts the requests sent from from to until that failed: all of them, and
// those of the businesses in affected.
func (ld *clusterLoad) failedBetween(from, until time.Time, affected []string) (all, hit int) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, a := range ld.attempts {
		if a.failed && !a.sent.Before(from) && !a.sent.After(until) {
			all++
			if slices.Contains(affected, a.tenant) {
				hit++
			}
		}
	}
	return all, hit
}
