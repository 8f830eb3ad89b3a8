package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/web"
)

// requestAllocs is the server's allocations for one request of method to path with body (the
// handler called directly, metrics on and the log at info level, as in production).
func requestAllocs(t *testing.T, h http.Handler, method, path, body string, want int) float64 {
	t.Helper()
	do := func() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body.String())
		}
	}
	do() // opens the business, fills its caches
	return testing.AllocsPerRun(200, do)
}

// The hottest public requests (a business's home page, a GraphQL lookup) stay within an
// allocation budget for the whole middleware chain and handler: a visitor without a session
// loads none, the debug request log builds nothing when it is off, the second language pass
// copies no request, the metrics name a route without making a string, the language switcher
// is written without templ's fmt.Sprint per expression, the security headers share their
// values, the business's store is made once, and the metrics' name of the request lives in the
// status recorder. Before those cuts the home page took 206 allocations (185, 138, 134, 125 as
// they came) and the lookup 233.
func TestPublicRequestAllocationBudget(t *testing.T) {
	srv, _ := siteLogging(t, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s *web.Server) {
		s.Metrics = metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	})
	for _, tc := range []struct {
		name, method, path, body string
		budget                   float64
	}{
		{"home page", "GET", "/acme", "", 124},
		{"GraphQL lookup", "POST", "/acme/graphql", `{"query":"{ business { name } }"}`, 200},
	} {
		got := requestAllocs(t, srv.Config.Handler, tc.method, tc.path, tc.body, http.StatusOK)
		t.Logf("%s: %.0f allocations a request", tc.name, got)
		if got > tc.budget {
			t.Errorf("%s: %.0f allocations a request, budget %.0f", tc.name, got, tc.budget)
		}
	}
}

// Skipping the session of a visitor who has none changes nothing they see: public answers still
// vary by cookie and set none, a signed-in user's cookie still makes the API know them, and the
// sign-in page (which starts a session) still works without one.
func TestSessionOnlyWhereUsed(t *testing.T) {
	srv, _ := site(t)
	for _, path := range []string{"/acme", "/acme/graphql?query=%7Bbusiness%7Bname%7D%7D"} {
		status, _, h := send(t, http.DefaultClient, "GET", srv.URL+path, "", nil)
		if status != http.StatusOK || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Cookie") || h.Get("Set-Cookie") != "" {
			t.Errorf("GET %s without a session: %d, Vary %q, Set-Cookie %q", path, status, h.Values("Vary"), h.Get("Set-Cookie"))
		}
	}

	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	_, body, _ := send(t, c, "POST", srv.URL+"/acme/graphql", `{"query":"{ me { name } }"}`,
		map[string]string{"Content-Type": "application/json"})
	if !strings.Contains(body, `"name":"Owner of acme"`) {
		t.Errorf("signed-in user on the API: %s", body)
	}
	// Another business's public page with acme's cookie only: no session there, nothing set.
	status, _, h := send(t, c, "GET", srv.URL+"/other", "", nil)
	if status != http.StatusOK || h.Get("Set-Cookie") != "" {
		t.Errorf("other business with acme's cookie: %d, Set-Cookie %q", status, h.Get("Set-Cookie"))
	}
}
