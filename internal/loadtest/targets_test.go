package main

import (
	"strings"
	"testing"
)

// The report ends with one line per target of issue #25, each saying whether it was met, with
// all three noisy-neighbour ratios; a figure the run did not measure is never reported as met.
func TestPrintTargets(t *testing.T) {
	r := results{
		Cold:    map[string]float64{"closed_p99_ms": 4.2},
		Ceiling: map[string]float64{"bare_rps": 20000, "reserva_mixed_rps": 8000, "ratio": 0.4},
		Mixed: []map[string]any{
			{"offered_rps": 500.0, "availability": opStats{Count: 10, P99: 99}},
			{"offered_rps": 1000.0, "availability": opStats{Count: 10, P99: 2.5}, "page": opStats{Count: 10, P99: 3.5},
				"book": opStats{Count: 10, P99: 7}},
		},
		Noisy:  []map[string]float64{{"ratio": 1.1}, {"ratio": 1.45}, {"ratio": 1.2}},
		Allocs: map[string]float64{"allocs_per_request": 400, "bytes_per_request": 120000},
	}
	var b strings.Builder
	printTargets(&b, r)
	out := b.String()
	for _, want := range []string{
		"met     mixed throughput",
		"40.0% of bare net/http (8000 vs 20000 req/s)",
		"met     availability p99 at 1000 req/s",
		"2.50 ms",
		"MISSED  page p99 at 1000 req/s",
		"met     booking p99 at 1000 req/s",
		"MISSED  noisy neighbour ratio, 3 runs",
		"1.10, 1.45, 1.20",
		"met     allocations per 7-day availability",
		"400 allocs, 120000 B per request (55.1x fewer than 22026)",
		"met     cold first request p99",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}

	// A run at other rates, with one noisy run and no allocation count, meets none of those.
	r.Mixed, r.Noisy, r.Allocs = r.Mixed[:1], r.Noisy[:1], nil
	b.Reset()
	printTargets(&b, r)
	out = b.String()
	for _, want := range []string{
		"MISSED  availability p99 at 1000 req/s",
		"not measured (run with -rates including 1000)",
		"MISSED  noisy neighbour ratio, 1 runs",
		"MISSED  allocations per 7-day availability",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}

// A noisy-neighbour run whose business made no booking (or finished no export) measured
// another noise: its line says so and has no ratio, and the target is not met however low the
// others' p99 stayed.
func TestNoisyRunWithoutWrites(t *testing.T) {
	run := func(ratio, exports, writes float64) map[string]float64 {
		return map[string]float64{"ratio": ratio, "exports": exports, "noisy_writes": writes, "wanted_exports": 1, "wanted_writes": 1}
	}
	r := results{Noisy: []map[string]float64{run(1.1, 12, 2189), run(0.9, 14, 0), run(1.2, 0, 300)}}
	var b strings.Builder
	printTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"ratio 1.10 (12 exports of 0 KiB, 2189 writes",
		"= no ratio: the noise did not do all it was asked to (14 exports of 0 KiB, 0 writes",
		"= no ratio: the noise did not do all it was asked to (0 exports of 0 KiB, 300 writes",
		"MISSED  noisy neighbour ratio, 3 runs",
		"1.10, none (14 exports, 0 writes), none (0 exports, 300 writes)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0.90") {
		t.Errorf("the report gives a ratio for the run without writes:\n%s", out)
	}

	// Asked for exports only, a run without writes has its ratio.
	r.Noisy = []map[string]float64{{"ratio": 1.1, "exports": 12, "wanted_exports": 1}, {"ratio": 0.9, "exports": 14, "wanted_exports": 1},
		{"ratio": 1.2, "exports": 9, "wanted_exports": 1}}
	b.Reset()
	printTargets(&b, r)
	if out := b.String(); !strings.Contains(out, "met     noisy neighbour ratio, 3 runs") || !strings.Contains(out, "1.10, 0.90, 1.20") {
		t.Errorf("exports-only runs are not reported:\n%s", out)
	}
}
