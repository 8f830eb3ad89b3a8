package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// Whatever the first path segment is, the tenancy middleware answers with a redirect, 404 or
// the tenant, never a server error, and never hands the handler a tenant for a path that is not
// exactly its slug.
func FuzzResolvePath(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := m.Close(ctx); err != nil {
			f.Error(err)
		}
		if err := reg.Close(); err != nil {
			f.Error(err)
		}
	})
	if _, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme", Timezone: "UTC"}); err != nil {
		f.Fatal(err)
	}
	h := web.TenantMiddleware(m, web.FairShare{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l, ok := tenancy.FromContext(r.Context()); ok {
			w.Header().Set("X-Tenant", l.Tenant.Slug)
		}
	}), func(w http.ResponseWriter, _ *http.Request, status int, _ error) { w.WriteHeader(status) })
	for _, p := range []string{"/acme", "/acme/admin", "/ACME", "/%2e%2e/etc/passwd", "/../acme", "/acme%00", "/ac%2Fme", "//acme", "/a\xffb"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = "/" + strings.TrimPrefix(path, "/")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d", path, rec.Code)
		}
		if got := rec.Header().Get("X-Tenant"); got != "" {
			seg, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
			if got != "acme" || seg != "acme" {
				t.Fatalf("%q resolved to tenant %q", path, got)
			}
		}
	})
}
