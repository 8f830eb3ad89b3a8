package web_test

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The explorer's page loads its scripts and styles from the server itself, with integrity
// hashes, under the signed-in admin route, cached for good per version; its CSP allows no
// other host. (It loaded them from a CDN and showed "Loading…" for ever offline.)
func TestGraphiQLServedFromBinary(t *testing.T) {
	srv, _ := site(t)
	anon := browser(t)
	c := browser(t)
	if status, _, _ := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), form); status != http.StatusSeeOther {
		t.Fatal(status)
	}
	status, page, h := send(t, c, "GET", srv.URL+"/acme/admin/graphql", "", nil)
	if status != 200 {
		t.Fatalf("explorer: %d", status)
	}
	if csp := h.Get("Content-Security-Policy"); strings.Contains(csp, "http") || !strings.Contains(csp, "script-src 'self' 'unsafe-inline';") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("explorer CSP: %s", csp)
	}
	refs := regexp.MustCompile(`(?s)<(?:script|link)\s[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 4 || strings.Contains(page, "https://") {
		t.Fatalf("explorer references %d scripts and styles (want 4, none on another host): %s", len(refs), page)
	}
	for _, ref := range refs {
		u, integrity := html.UnescapeString(ref[1]), html.UnescapeString(ref[2])
		if !strings.HasPrefix(u, "/acme/admin/graphql/assets/") || !strings.Contains(u, "?v=") {
			t.Errorf("asset URL %s", u)
			continue
		}
		status, body, h := send(t, c, "GET", srv.URL+u, "", nil)
		sum := sha256.Sum256([]byte(body))
		if status != 200 || "sha256-"+base64.StdEncoding.EncodeToString(sum[:]) != integrity ||
			h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			!strings.HasPrefix(h.Get("Content-Type"), map[bool]string{true: "text/css", false: "text/javascript"}[strings.Contains(u, ".css")]) {
			t.Errorf("%s: %d, %d bytes, %s, %s", u, status, len(body), h.Get("Cache-Control"), h.Get("Content-Type"))
		}
		// Gzipped for clients that take it (the client above took it too, and unzipped it).
		_, zipped, h := send(t, c, "GET", srv.URL+u, "", map[string]string{"Accept-Encoding": "gzip"})
		zr, err := gzip.NewReader(strings.NewReader(zipped))
		if err != nil || h.Get("Content-Encoding") != "gzip" || len(zipped) >= len(body) {
			t.Errorf("%s gzipped: %q, %d bytes of %d (%v)", u, h.Get("Content-Encoding"), len(zipped), len(body), err)
		} else if unzipped, err := io.ReadAll(zr); err != nil || string(unzipped) != body {
			t.Errorf("%s gzipped: does not unzip to the file (%v)", u, err)
		}
		if status, _, h := send(t, anon, "GET", srv.URL+u, "", nil); status != http.StatusSeeOther || h.Get("Location") != "/acme/admin/login" {
			t.Errorf("%s without signing in: %d", u, status)
		}
	}
	if status, _, _ := send(t, c, "GET", srv.URL+"/acme/admin/graphql/assets/nope.js", "", nil); status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", status)
	}
}

// In a real browser with no way out (no network here but loopback), the explorer starts, loads
// the schema and requests nothing from another host.
func TestEndToEndGraphiQL(t *testing.T) {
	tab := browserTab(t)
	srv, _ := site(t)
	do(t, tab, "sign in", desktop,
		chromedp.Navigate(srv.URL+"/acme/admin/login"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@acme.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-user"]`)),
	)
	do(t, tab, "open the explorer",
		chromedp.Navigate(srv.URL+"/acme/admin/graphql"),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-container")),
	)
	// The documentation explorer lists the schema's root types once introspection has answered.
	do(t, tab, "open the docs", chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)))
	waitText(t, tab, ".graphiql-doc-explorer", "Query")
	shot(t, tab, "desktop-graphiql")
	resources := value(t, tab, "the page's requests", chromedp.Evaluate[[]string](`performance.getEntriesByType('resource').map(e => e.name)`))
	if len(resources) < 4 {
		t.Errorf("the explorer made %d requests: %v", len(resources), resources)
	}
	for _, r := range resources {
		if !strings.HasPrefix(r, srv.URL+"/") {
			t.Errorf("the explorer requested %s", r)
		}
	}
}
