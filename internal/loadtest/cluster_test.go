package main

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clusterFigs is a cluster run that meets every target of issue #23.
func clusterFigs() map[string]map[string]float64 {
	return map[string]map[string]float64{
		"machine": {"cpus": 2, "nodes": 3, "tenants": 30},
		"single": {"booking_p50_ms": 6.5, "mix_rps": 1000, "mix_requests": 5000, "signup_p50_ms": 15, "signups": 30,
			"signups_seen_elsewhere": 30, "mix_node1_cores": 0.9, "mix_cpu_us_per_request": 380},
		"cluster": {"booking_p50_ms": 8.25, "mix_rps": 1100, "mix_requests": 5500, "owner_mix_rps": 1300,
			"forward_samples": 200, "forwarded_p50_ms": 0.9, "owner_p50_ms": 0.5, "forward_overhead_p50_ms": 0.4,
			"signup_p50_ms": 18, "signups": 30, "signups_seen_elsewhere": 30,
			"mix_node1_cores": 0.5, "mix_node1_cpu_us_per_request": 310, "mix_node2_cores": 0.35, "mix_node2_cpu_us_per_request": 230,
			"mix_node3_cores": 0.3, "mix_node3_cpu_us_per_request": 190, "mix_cpu_us_per_request": 730},
	}
}

func printed(figs map[string]map[string]float64) string {
	var b strings.Builder
	printCluster(&b, figs)
	return b.String()
}

// The cluster report ends with one line per target of issue #23, each met or MISSED, with the
// single node's figure beside the cluster's; it gives each node's CPU per request and says that
// one machine cannot show a cluster's throughput.
func TestPrintCluster(t *testing.T) {
	out := printed(clusterFigs())
	for _, want := range []string{
		"met     forwarded request overhead p50",
		"+0.40 ms (0.90 ms forwarded, 0.50 ms at the owner)",
		"met     acknowledged booking p50, random nodes",
		"8.25 ms (one node 6.50 ms)",
		"met     bench mix throughput, 3 nodes / 1",
		"1.10x (1100 vs 1000 req/s)",
		"met     provisioning p50 (sign-up, random nodes)",
		"18.00 ms (one node 15.00 ms); 30 of 30 served by another node",
		"n1 0.50 cores, 310 µs per request; n2 0.35 cores, 230 µs per request; n3 0.30 cores, 190 µs per request",
		"one machine with 2 CPUs runs every node and the load generator: the cluster cannot show more throughput than one node here",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MISSED") {
		t.Errorf("a run meeting every target reports one missed:\n%s", out)
	}
}

// A figure over its target, or one the run did not measure, is never reported as met: slower
// forwarding and bookings, a cluster slower than one node or one whose requests failed, sign-ups
// that failed, and sign-ups another node does not serve (the registry not shared).
func TestPrintClusterMissed(t *testing.T) {
	for _, c := range []struct {
		name   string
		change map[string]float64 // into the cluster's figures
		want   []string
	}{
		{"slow forwarding", map[string]float64{"forward_overhead_p50_ms": 1.2},
			[]string{"MISSED  forwarded request overhead p50", "+1.20 ms"}},
		{"forwarding not measured", map[string]float64{"forward_samples": 0},
			[]string{"MISSED  forwarded request overhead p50           not measured"}},
		{"slow bookings", map[string]float64{"booking_p50_ms": 21},
			[]string{"MISSED  acknowledged booking p50, random nodes", "21.00 ms"}},
		{"no bookings", map[string]float64{"booking_p50_ms": 0},
			[]string{"MISSED  acknowledged booking p50, random nodes"}},
		{"slower than one node", map[string]float64{"mix_rps": 990},
			[]string{"MISSED  bench mix throughput, 3 nodes / 1", "0.99x (990 vs 1000 req/s)"}},
		{"failed requests", map[string]float64{"mix_errors": 7},
			[]string{"MISSED  bench mix throughput, 3 nodes / 1", "1.10x (1100 vs 1000 req/s, 7 and 0 failed)"}},
		{"slow sign-ups", map[string]float64{"signup_p50_ms": 80},
			[]string{"MISSED  provisioning p50 (sign-up, random nodes)", "80.00 ms (one node 15.00 ms)"}},
		{"sign-ups not seen elsewhere", map[string]float64{"signups_seen_elsewhere": 0},
			[]string{"MISSED  provisioning p50 (sign-up, random nodes)", "0 of 30 served by another node"}},
		{"some sign-ups failed", map[string]float64{"signup_errors": 2},
			[]string{"MISSED  provisioning p50 (sign-up, random nodes)", "30 of 30 served by another node, 2 failed"}},
		{"every sign-up failed", map[string]float64{"signups": 0, "signup_errors": 30, "signup_p50_ms": 0},
			[]string{"MISSED  provisioning p50 (sign-up, random nodes) not measured (30 sign-ups failed)"}},
	} {
		figs := clusterFigs()
		maps.Copy(figs["cluster"], c.change)
		out := printed(figs)
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the report lacks %q:\n%s", c.name, want, out)
			}
		}
		if n := strings.Count(out, "MISSED"); n != 1 {
			t.Errorf("%s: %d targets missed, want 1:\n%s", c.name, n, out)
		}
	}
}

// A node's CPU time is read from its /proc/<pid>/stat line whatever its command name holds
// (spaces, parentheses), in seconds of user and system time.
func TestStatCPUSeconds(t *testing.T) {
	line := "4242 (re serva) (x)) S 1 4242 4242 0 -1 4194560 2153 0 0 0 250 130 0 0 20 0 12 0 1000 2000000 3000 18446744073709551615\n"
	if got := statCPUSeconds([]byte(line)); got != 3.8 {
		t.Errorf("statCPUSeconds = %v, want 3.8 (250 + 130 ticks)", got)
	}
	if got := statCPUSeconds([]byte("4242 (reserva) S 1")); got != 0 {
		t.Errorf("a cut-off line gives %v, want 0", got)
	}
}

// The cluster mode runs end to end at a small size: three real `serve --cluster` nodes and one
// node, both replicating to the loopback S3 server; every figure a target is judged on was
// measured (nothing failed, each node did work), and the checklist is printed.
func TestClusterBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs four servers")
	}
	dir := t.TempDir()
	*bin = filepath.Join(dir, "reserva")
	if out, err := exec.Command("go", "build", "-o", *bin, "github.com/reserva/reserva").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	*clusterN, *clusterTenants, *clusterSamples, *clusterSignups, *ceilingD = 3, 6, 12, 3, 800*time.Millisecond
	var b strings.Builder
	figs := clusterBench(context.Background(), filepath.Join(dir, "data"), &b)
	one, cl := figs["single"], figs["cluster"]
	if cl["forward_samples"] != 12 || cl["owner_p50_ms"] <= 0 || cl["forwarded_p50_ms"] <= 0 {
		t.Errorf("forwarding not measured: %v", cl)
	}
	for name, f := range map[string]map[string]float64{"one node": one, "cluster": cl} {
		if f["booking_p50_ms"] <= 0 || f["mix_requests"] == 0 || f["mix_errors"] != 0 || f["mix_rps"] <= 0 {
			t.Errorf("%s: bookings or the bench mix not measured, or requests failed: %v", name, f)
		}
		if f["signups"] != 3 || f["signup_errors"] != 0 || f["signup_p50_ms"] <= 0 {
			t.Errorf("%s: sign-ups failed: %v", name, f)
		}
	}
	if one["signups_seen_elsewhere"] != 3 {
		t.Errorf("the single node does not serve the businesses signed up on it: %v", one)
	}
	for i := 1; i <= 3; i++ {
		if cl[fmt.Sprintf("mix_node%d_cores", i)] <= 0 {
			t.Errorf("node n%d used no CPU in the bench mix: %v", i, cl)
		}
	}
	if out := b.String(); !strings.Contains(out, "Issue #23 targets") || strings.Count(out, "  met  ")+strings.Count(out, "  MISSED  ") != 4 {
		t.Errorf("the report lacks the four targets:\n%s", out)
	}
}
