package graph_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reserva/reserva/graph"
)

// Every answer of the GraphQL endpoint is in GraphQL's shape with a code, the wiring mistake of
// a handler mounted outside the tenant middleware included: a client (and its error reporting)
// parses one format, never a bare text/plain "internal error".
func TestNoTenantAnswersInGraphQLShape(t *testing.T) {
	srv := httptest.NewServer(graph.NewHandler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"query":"{ business { name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	var got struct {
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || res.StatusCode != http.StatusInternalServerError ||
		len(got.Errors) != 1 || got.Errors[0].Extensions.Code != "INTERNAL" {
		t.Fatalf("status %d, %s (%v); want 500 with one INTERNAL error", res.StatusCode, body, err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}
