package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every response carries the security headers, set without an allocation per request; a
// handler that changes one (the password reset page's Referrer-Policy) changes its own
// response only, never the value the next responses share.
func TestSecurityHeadersShared(t *testing.T) {
	resetLike := securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Add("X-Frame-Options", "SAMEORIGIN") // a second value: appends to the shared one
	}))
	plain := securityHeaders(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/acme", nil)

	rec := httptest.NewRecorder()
	resetLike.ServeHTTP(rec, req)
	if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("the handler's own Referrer-Policy: %q", got)
	}
	rec = httptest.NewRecorder()
	plain.ServeHTTP(rec, req)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := rec.Header().Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s after another response changed it: %q, want %q", k, got, v)
		}
	}

	h := rec.Header()
	if n := testing.AllocsPerRun(100, func() { clear(h); plain.ServeHTTP(rec, req) }); n != 0 {
		t.Errorf("%.0f allocations a request to set the headers", n)
	}
}
