package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// echoTenant answers with the tenant in the request context and the path it was routed to.
func echoTenant(w http.ResponseWriter, r *http.Request) {
	l, ok := tenancy.FromContext(r.Context())
	if !ok {
		fmt.Fprintf(w, "platform %s", r.URL.Path)
		return
	}
	var n int
	if err := l.DB.Read.QueryRowContext(r.Context(), `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	fmt.Fprintf(w, "tenant %s %s sessions=%d", l.Tenant.Name, r.URL.Path, n)
}

func errorPage(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	http.Error(w, fmt.Sprintf("error %d", status), status)
}

func get(t *testing.T, c *http.Client, url, host string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

func TestMiddleware(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	v1 := tenanttest.Migs(t, `CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`)
	old := e.Manager(t, v1, tenancy.Config{})
	acme := tenanttest.MustProvision(t, old, "acme")
	broken := tenanttest.MustProvision(t, old, "broken")
	renamed := tenanttest.MustProvision(t, old, "old-name")
	l, _ := old.Acquire(ctx, broken)
	if _, err := l.DB.Write.Exec(`CREATE TABLE extra (x)`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	_ = old.Close(ctx)

	m := e.Manager(t, tenanttest.Migs(t, `CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`,
		`CREATE TABLE extra (id INTEGER PRIMARY KEY)`), tenancy.Config{})
	if err := m.Rename(ctx, renamed.ID, "new-name"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHost(ctx, "Book.Acme.Example:443", acme.ID); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.TenantMiddleware(m, web.FairShare{}, http.HandlerFunc(echoTenant), errorPage))
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	cases := []struct {
		name, path, host string
		status           int
		body, location   string
	}{
		{"OK", "/acme", "", 200, "tenant Biz acme /acme sessions=0", ""},
		{"OKSubpath", "/acme/admin/x", "", 200, "tenant Biz acme /acme/admin/x", ""},
		{"ErrUnknownSlug", "/nope", "", 404, "error 404", ""},
		{"ErrUppercase", "/ACME", "", 404, "error 404", ""},
		{"ErrTraversal", "/..%2f..%2fetc/passwd", "", 404, "error 404", ""},
		{"ErrDotSlug", "/acme.db", "", 404, "error 404", ""},
		{"Platform", "/healthz", "", 200, "platform /healthz", ""},
		{"Root", "/", "", 200, "platform /", ""},
		{"ErrMigrationFailed", "/broken", "", 503, "error 503", ""},
		{"Redirect", "/old-name/booking/abc?x=1", "", 301, "", "/new-name/booking/abc?x=1"},
		{"RenamedServes", "/new-name", "", 200, "tenant Biz old-name /new-name", ""},
		{"CustomHost", "/", "book.acme.example", 200, "tenant Biz acme /acme/", ""},
		{"CustomHostSubpath", "/admin", "BOOK.acme.example:8443", 200, "tenant Biz acme /acme/admin", ""},
		{"CustomHostPrefixed", "/acme/admin", "book.acme.example", 200, "tenant Biz acme /acme/admin", ""},
		// A custom host serves only its own tenant, whatever slug the path names.
		{"CustomHostOtherSlug", "/new-name", "book.acme.example", 200, "tenant Biz acme /acme/new-name", ""},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			status, body, h := get(t, c, srv.URL+c2.path, c2.host)
			if status != c2.status || !strings.Contains(body, c2.body) {
				t.Errorf("GET %s (host %q) = %d %q, want %d %q", c2.path, c2.host, status, body, c2.status, c2.body)
			}
			if c2.location != "" && h.Get("Location") != c2.location {
				t.Errorf("Location = %q, want %q", h.Get("Location"), c2.location)
			}
			if status == 503 && h.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	if s := m.Stats(); s.Open != 2 || s.Idle != 2 {
		t.Errorf("after the requests %+v; want 2 handles (acme, new-name), both idle: leases end with requests", s)
	}
}

// A request that finds every open handle leased (held by requests that never end, as hung
// sign-ups held them) gets 503 after Config.AcquireWait instead of hanging, while the
// business whose handle is open keeps serving.
func TestMiddlewareWaitForHandleIsBounded(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{MaxOpen: 1, AcquireWait: 100 * time.Millisecond})
	held := tenanttest.MustProvision(t, m, "held")
	tenanttest.MustProvision(t, m, "waiting")
	l, err := m.Acquire(context.Background(), held)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	srv := httptest.NewServer(web.TenantMiddleware(m, web.FairShare{}, http.HandlerFunc(echoTenant), errorPage))
	defer srv.Close()
	c := &http.Client{Timeout: time.Minute}
	if status, body, _ := get(t, c, srv.URL+"/waiting/", ""); status != http.StatusServiceUnavailable {
		t.Errorf("a business with no handle free: %d %s, want 503", status, body)
	}
	if status, body, _ := get(t, c, srv.URL+"/held/", ""); status != http.StatusOK {
		t.Errorf("the business whose handle is open: %d %s", status, body)
	}
}
