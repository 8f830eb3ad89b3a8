package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// site runs the whole web handler over two businesses, "acme" and "other", each with an owner
// (password "correct horse battery").
func site(t *testing.T) (*httptest.Server, *tenancy.Manager) {
	t.Helper()
	return siteWith(t, tenancy.Config{}, nil)
}

// siteLogging is site with the server logging to log, and changed by configure.
func siteLogging(t *testing.T, log *slog.Logger, configure ...func(*web.Server)) (*httptest.Server, *tenancy.Manager) {
	t.Helper()
	return siteFull(t, tenancy.Config{}, nil, log, configure...)
}

// siteWith is site with the Manager's configuration cfg (its data directory, logger and blobs
// are the site's), and wrap, when given, around the whole handler.
func siteWith(t *testing.T, cfg tenancy.Config, wrap func(http.Handler) http.Handler) (*httptest.Server, *tenancy.Manager) {
	t.Helper()
	return siteFull(t, cfg, wrap, slog.New(slog.DiscardHandler))
}

// siteFull is site with all of siteLogging's and siteWith's changes.
func siteFull(t *testing.T, cfg tenancy.Config, wrap func(http.Handler) http.Handler, log *slog.Logger, configure ...func(*web.Server)) (*httptest.Server, *tenancy.Manager) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	blobURL, _ := blob.FileURL(filepath.Join(dir, "blobs"))
	blobs, err := blob.Open(ctx, blobURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.Logger, cfg.EraseElsewhere = dir, quiet, ops.EraseBlobs(blobs)
	m, err := tenancy.NewManager(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"acme", "other"} {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: slug, Name: "Biz " + slug, Timezone: "Europe/Madrid"})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := m.Acquire(ctx, tn)
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		if _, err := s.CreateUser(ctx, domain.NewUser{Email: "owner@" + slug + ".example", Name: "Owner of " + slug,
			Role: domain.RoleOwner, Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	ws := &web.Server{Tenants: m, GraphQL: graph.NewHandler(log), Log: log, Blobs: blobs}
	for _, c := range configure {
		c(ws)
	}
	h := ws.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	// httptest forgets a connection once it is hijacked (a websocket), and Close leaves it
	// open; a websocket holds a lease on its business, so m.Close would wait for it for as
	// long as the client (a browser on a dashboard page, say) kept it. Closed here.
	var hijacked []net.Conn
	var mu sync.Mutex
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateHijacked {
			mu.Lock()
			hijacked = append(hijacked, c)
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		for _, c := range hijacked {
			_ = c.Close()
		}
		mu.Unlock()
		_ = m.Close(ctx)
		_ = reg.Close()
		_ = blobs.Close()
	})
	return srv, m
}

func browser(_ *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, c *http.Client, method, u, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var form = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

// sessions counts the sessions stored in a business's own database.
func sessions(t *testing.T, m *tenancy.Manager, slug string) int {
	t.Helper()
	var n int
	withLease(t, m, slug, func(ctx context.Context, l *tenancy.Lease) {
		if err := l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

func TestDashboardLogin(t *testing.T) {
	srv, m := site(t)
	c := browser(t)

	if status, _, h := send(t, c, "GET", srv.URL+"/acme/admin", "", nil); status != http.StatusSeeOther || h.Get("Location") != "/acme/admin/login" {
		t.Errorf("dashboard without signing in: %d %s", status, h.Get("Location"))
	}
	status, body, _ := send(t, c, "GET", srv.URL+"/acme/admin/login", "", nil)
	if status != 200 || !strings.Contains(body, `data-testid="login-page"`) || !strings.Contains(body, "Biz acme") {
		t.Fatalf("login page: %d %s", status, body)
	}

	t.Run("ErrWrongPassword", func(t *testing.T) {
		status, body, _ := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"nope"}}.Encode(), form)
		if status != http.StatusUnauthorized || !strings.Contains(body, "The email or password is wrong.") || !strings.Contains(body, `value="owner@acme.example"`) {
			t.Errorf("wrong password: %d %s", status, body)
		}
	})
	t.Run("ErrOtherBusinessesUser", func(t *testing.T) {
		status, _, _ := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@other.example"}, "password": {"correct horse battery"}}.Encode(), form)
		if status != http.StatusUnauthorized {
			t.Errorf("another business's owner signed in to acme: %d", status)
		}
	})
	t.Run("ErrCrossSiteForm", func(t *testing.T) {
		h := map[string]string{"Content-Type": form["Content-Type"], "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		status, _, _ := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), h)
		if status != http.StatusForbidden {
			t.Errorf("cross-site login form: %d, want 403", status)
		}
	})

	status, _, h := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"Owner@Acme.example"}, "password": {"correct horse battery"}}.Encode(), form)
	if status != http.StatusSeeOther || h.Get("Location") != "/acme/admin" {
		t.Fatalf("login: %d %s", status, h.Get("Location"))
	}
	cookie := h.Get("Set-Cookie")
	if !strings.Contains(cookie, "reserva_") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Errorf("session cookie %q", cookie)
	}
	if a, o := sessions(t, m, "acme"), sessions(t, m, "other"); a != 1 || o != 0 {
		t.Errorf("sessions stored: acme %d, other %d; want 1 and 0", a, o)
	}
	status, body, _ = send(t, c, "GET", srv.URL+"/acme/admin", "", nil)
	if status != 200 || !strings.Contains(body, `data-testid="admin-user">Owner of acme<`) {
		t.Errorf("dashboard: %d %s", status, body)
	}

	gql := map[string]string{"Content-Type": "application/json"}
	me := `{"query":"{ me { name role } }"}`
	if _, body, _ := send(t, c, "POST", srv.URL+"/acme/graphql", me, gql); !strings.Contains(body, `"name":"Owner of acme"`) {
		t.Errorf("GraphQL with the session cookie: %s", body)
	}
	// The same cookie is no session at all on another business.
	if _, body, _ := send(t, c, "POST", srv.URL+"/other/graphql", me, gql); !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("acme's cookie on other: %s", body)
	}
	if status, _, h := send(t, c, "GET", srv.URL+"/other/admin", "", nil); status != http.StatusSeeOther || h.Get("Location") != "/other/admin/login" {
		t.Errorf("acme's cookie on other's dashboard: %d", status)
	}
	// A page on another site cannot use the cookie to call the API (CSRF).
	cross := map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	if status, _, _ := send(t, c, "POST", srv.URL+"/acme/graphql", `{"query":"mutation { revokeApiToken(id: \"1\") }"}`, cross); status != http.StatusForbidden {
		t.Errorf("cross-site GraphQL mutation: %d, want 403", status)
	}
	if status, body, _ := send(t, c, "GET", srv.URL+"/acme/admin/graphql", "", nil); status != 200 || !strings.Contains(body, "/acme/graphql") {
		t.Errorf("GraphiQL: %d", status)
	}

	if status, _, h := send(t, c, "POST", srv.URL+"/acme/admin/logout", "", form); status != http.StatusSeeOther || h.Get("Location") != "/acme/admin/login?msg=out" {
		t.Errorf("logout: %d", status)
	}
	if _, body, _ := send(t, c, "POST", srv.URL+"/acme/graphql", me, gql); !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("after logout: %s", body)
	}
}

func TestLoginRateLimit(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	wrong := url.Values{"email": {"owner@acme.example"}, "password": {"guess"}}.Encode()
	for range 10 {
		send(t, c, "POST", srv.URL+"/acme/admin/login", wrong, form)
	}
	status, body, hdr := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), form)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts") || hdr.Get("Retry-After") == "" ||
		!strings.Contains(body, "Try again in "+hdr.Get("Retry-After")+" second") {
		t.Errorf("after 10 failures: %d, Retry-After %q", status, hdr.Get("Retry-After"))
	}
	// Another business's sign-in is not slowed down.
	if status, _, _ := send(t, c, "POST", srv.URL+"/other/admin/login", url.Values{"email": {"owner@other.example"}, "password": {"correct horse battery"}}.Encode(), form); status != http.StatusSeeOther {
		t.Errorf("other business: %d", status)
	}
}

// An API client of a business that cannot be served gets a GraphQL error it can act on, while
// other businesses keep serving.
func TestGraphQLTenantUnavailable(t *testing.T) {
	srv, m := site(t)
	ctx := context.Background()
	tn, _, _ := m.Resolve(ctx, "other")
	l, _ := m.Acquire(ctx, tn)
	// A newer Reserva migrated this database: this binary must not touch it.
	if _, err := l.DB.Write.Exec(`INSERT INTO schema_migrations VALUES (999, '0999_future.sql', '2030-01-01')`); err != nil {
		t.Fatal(err)
	}
	l.Release()
	m.CloseIdle(0)
	c := browser(t)
	gql := map[string]string{"Content-Type": "application/json"}
	status, body, _ := send(t, c, "POST", srv.URL+"/other/graphql", `{"query":"{ business { name } }"}`, gql)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"TENANT_UNAVAILABLE"`) {
		t.Errorf("unavailable tenant: %d %s", status, body)
	}
	if status, body, _ := send(t, c, "POST", srv.URL+"/acme/graphql", `{"query":"{ business { name } }"}`, gql); status != 200 || !strings.Contains(body, "Biz acme") {
		t.Errorf("healthy tenant: %d %s", status, body)
	}
	if status, body, _ := send(t, c, "POST", srv.URL+"/nope/graphql", `{"query":"{ business { name } }"}`, gql); status != 404 || !strings.Contains(body, `"code":"NOT_FOUND"`) {
		t.Errorf("unknown tenant: %d %s", status, body)
	}
}

// Oversized bodies are refused without reaching the API.
func TestBodyLimit(t *testing.T) {
	srv, _ := site(t)
	big := `{"query":"{ business { name } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	status, body, _ := send(t, browser(t), "POST", srv.URL+"/acme/graphql", big, map[string]string{"Content-Type": "application/json"})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "request body is over") {
		t.Errorf("2 MiB body: %d %.200s", status, body)
	}
}

// A websocket opened with a session stops acting for its user once they sign out.
func TestWebsocketAfterLogout(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	if status, _, _ := send(t, c, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), form); status != http.StatusSeeOther {
		t.Fatal(status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/acme/graphql",
		&websocket.DialOptions{HTTPClient: c, Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	if err := wsjson.Write(ctx, ws, map[string]any{"type": "connection_init"}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := wsjson.Read(ctx, ws, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack %v %v", ack, err)
	}
	query := func(id string) string {
		if err := wsjson.Write(ctx, ws, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": `{ users { email } }`}}); err != nil {
			t.Fatal(err)
		}
		var msg json.RawMessage
		if err := wsjson.Read(ctx, ws, &msg); err != nil {
			t.Fatal(err)
		}
		var done map[string]any
		if err := wsjson.Read(ctx, ws, &done); err != nil { // "complete"
			t.Fatal(err)
		}
		return string(msg)
	}
	if got := query("1"); !strings.Contains(got, "owner@acme.example") {
		t.Fatalf("signed in: %s", got)
	}
	send(t, c, "POST", srv.URL+"/acme/admin/logout", "", form)
	if got := query("2"); strings.Contains(got, "owner@acme.example") || !strings.Contains(got, "UNAUTHENTICATED") {
		t.Errorf("after logout: %s", got)
	}
}

// One browser can be signed in to two businesses at once.
func TestSignedInToTwoBusinesses(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	for _, slug := range []string{"acme", "other"} {
		status, _, _ := send(t, c, "POST", srv.URL+"/"+slug+"/admin/login",
			url.Values{"email": {"owner@" + slug + ".example"}, "password": {"correct horse battery"}}.Encode(), form)
		if status != http.StatusSeeOther {
			t.Fatalf("sign in to %s: %d", slug, status)
		}
	}
	for _, slug := range []string{"acme", "other"} {
		if status, body, _ := send(t, c, "GET", srv.URL+"/"+slug+"/admin", "", nil); status != 200 || !strings.Contains(body, "Owner of "+slug) {
			t.Errorf("%s dashboard: %d", slug, status)
		}
	}
}
