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
