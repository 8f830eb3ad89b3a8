package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// unavailableRegistry refuses to register a business for now, as a cluster's registry does
// between two controllers.
type unavailableRegistry struct{ *tenancy.SQLiteRegistry }

func (unavailableRegistry) Create(context.Context, tenancy.Tenant, bool) error {
	return fmt.Errorf("the cluster has no controller at the moment (%w)", tenancy.ErrUnavailable)
}

// A sign-up the platform cannot take right now is a 503 with Retry-After and the form as it was
// filled in, not a 500 "something went wrong" that loses it.
func TestSignupUnavailableKeepsTheForm(t *testing.T) {
	dir := t.TempDir()
	reg, err := tenancy.OpenRegistry(t.Context(), filepath.Join(dir, "registry.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	m, err := tenancy.NewManager(unavailableRegistry{reg}, tenancy.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	srv := httptest.NewServer((&web.Server{Tenants: m, GraphQL: graph.NewHandler(quiet), Log: quiet}).Handler())
	t.Cleanup(srv.Close)

	c := browser(t)
	vals := url.Values{"name": {"Zen Yoga Studio"}, "timezone": {"Europe/Madrid"}, "email": {"me@zen.example"}, "password": {"correct horse battery"}}
	status, doc, hdr := page(t, c, "POST", srv.URL+"/signup", vals.Encode())
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("sign-up while the registry is unavailable: %d, Retry-After %q; want 503 with Retry-After", status, hdr.Get("Retry-After"))
	}
	if msg := doc.Find(`[data-testid="message"]`).Text(); !strings.Contains(msg, "again in a few seconds") {
		t.Errorf("message: %q", msg)
	}
	if attr(t, doc, `input[name="name"]`, "value") != "Zen Yoga Studio" || attr(t, doc, `input[name="email"]`, "value") != "me@zen.example" {
		t.Error("the form lost what was typed")
	}
}
