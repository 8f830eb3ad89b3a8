package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkAvailabilityHTTP: a 7-day availability query through the whole HTTP stack (tenancy
// middleware, GraphQL parsing with the query cache, resolvers, SQLite reads, JSON).
func BenchmarkAvailabilityHTTP(b *testing.B) {
	srv := server(b)
	from := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	body, _ := json.Marshal(map[string]any{
		"query":     `query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { date status slots { start end staff { id name } seatsLeft } } }`,
		"variables": map[string]any{"s": "1", "f": from, "t": to},
	})
	client := srv.Client()
	b.ReportAllocs() // issue #25's figure: bytes and allocations per request
	for b.Loop() {
		res, err := client.Post(srv.URL+"/acme/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || n < 1000 {
			b.Fatalf("status %d, %d bytes", res.StatusCode, n)
		}
	}
}
