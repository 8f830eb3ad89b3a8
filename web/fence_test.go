package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// In cluster mode the fence decides, before a business's database is opened, whether this
// node serves its request: a business owned elsewhere is answered 421 (the forwarder asks the
// cluster again), one whose owner cannot be told 503 with Retry-After; requests without a
// business never meet the fence.
func TestFenceGatesTenantRequests(t *testing.T) {
	var mu sync.Mutex
	verdict := map[string]error{
		"acme":  nil,
		"other": fmt.Errorf("owned by node n2: %w", web.ErrMisdirected),
	}
	var asked []string
	srv, _ := siteLogging(t, slog.New(slog.DiscardHandler), func(ws *web.Server) {
		ws.Fence = func(_ context.Context, tn tenancy.Tenant) error {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, tn.Slug)
			return verdict[tn.Slug]
		}
	})
	c := srv.Client()
	if code, _, _ := get(t, c, srv.URL+"/acme/", ""); code != http.StatusOK {
		t.Errorf("owned business: %d, want 200", code)
	}
	if code, _, _ := get(t, c, srv.URL+"/other/", ""); code != http.StatusMisdirectedRequest {
		t.Errorf("business owned elsewhere: %d, want 421", code)
	}
	mu.Lock()
	verdict["acme"] = errors.New("cluster state unknown")
	mu.Unlock()
	code, _, h := get(t, c, srv.URL+"/acme/", "")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("ownership unknown: %d, Retry-After %q; want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	if code, _, _ := get(t, c, srv.URL+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"acme", "other", "acme"}; !slices.Equal(asked, want) {
		t.Errorf("fence asked for %v, want %v", asked, want)
	}
}
