package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A handler registered outside the tenant middleware (or without requireUser) is a wiring
// mistake: it must fail loudly, logged as what it is, not as a nil dereference deep inside a
// handler or as an anonymous user with no role.
func TestAccessorsFailLoudly(t *testing.T) {
	for name, h := range map[string]func(*Server) http.HandlerFunc{
		"Lease":  func(s *Server) http.HandlerFunc { return s.requireUser(func(http.ResponseWriter, *http.Request) {}) },
		"Viewer": func(_ *Server) http.HandlerFunc { return func(_ http.ResponseWriter, r *http.Request) { actorOf(r) } },
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Server{Log: slog.New(slog.NewTextHandler(&logs, nil))}
			srv := httptest.NewServer(s.recoverPanics(h(s)))
			defer srv.Close()
			res, err := http.Get(srv.URL + "/acme/admin")
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", res.StatusCode)
			}
			if !strings.Contains(logs.String(), "registered") || !strings.Contains(logs.String(), "/acme/admin") {
				t.Errorf("the log does not name the wiring mistake:\n%s", logs.String())
			}
		})
	}
}
