package graph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A public one-day availability lookup (the load test's query) stays within an allocation
// budget through the tenant middleware and the GraphQL handler. The request's loaders (staff
// and services, for resolvers that look them up) are made only when a resolver uses one: the
// lookup's fast path never does. Before, the lookup took 230 allocations (now 219).
func TestLookupAllocationBudget(t *testing.T) {
	srv := server(t)
	d := time.Now().AddDate(0, 0, 2).Format(time.DateOnly)
	body, _ := json.Marshal(map[string]any{
		"query":     `query($d: Date!) { availability(serviceId: "1", from: $d, to: $d) { date status slots { start staff { id } } } }`,
		"variables": map[string]any{"d": d},
	})
	h := srv.Config.Handler
	do := func() {
		req := httptest.NewRequest("POST", "/acme/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"slots":[{"start"`) {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	do()
	const budget = 224
	got := testing.AllocsPerRun(200, do)
	t.Logf("%.0f allocations a lookup", got)
	if got > budget {
		t.Errorf("%.0f allocations a lookup, budget %d", got, budget)
	}
}
