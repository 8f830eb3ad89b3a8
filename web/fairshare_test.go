package web_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// A business runs at most FairShare requests at once: its next one waits (and gives up with a
// 503 after FairShareWait), while another business's requests go straight through; a handler
// that ends its turn early lets the next one in.
func TestFairShare(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	share := web.FairShare{N: 1, Wait: 300 * time.Millisecond}
	tenanttest.MustProvision(t, m, "busy")
	tenanttest.MustProvision(t, m, "calm")
	release := make(chan struct{})
	started := make(chan string, 10)
	var releaseMu sync.Mutex
	// On a failure the held handlers must still end, or the server cannot close.
	t.Cleanup(func() {
		releaseMu.Lock()
		defer releaseMu.Unlock()
		select {
		case <-release:
		default:
			close(release)
		}
	})
	h := web.TenantMiddleware(m, share, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		l, _ := tenancy.FromContext(r.Context())
		started <- l.Tenant.Slug + r.URL.Query().Get("n")
		if r.URL.Query().Get("n") == "early" {
			turn.End(r.Context())
		}
		if r.URL.Query().Get("wait") != "" {
			releaseMu.Lock()
			ch := release
			releaseMu.Unlock()
			<-ch
		}
	}), func(w http.ResponseWriter, _ *http.Request, status int, _ error) { w.WriteHeader(status) })
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) int {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return 0
		}
		_ = res.Body.Close()
		return res.StatusCode
	}

	// The busy business's first request holds its one turn; its next waits for it (and gives up
	// after the wait), even with cores free, while the calm business goes straight through.
	var wg sync.WaitGroup
	wg.Go(func() { get("/busy?n=0&wait=1") })
	if got := <-started; got != "busy0" {
		t.Fatalf("started %s", got)
	}
	codes := make(chan int, 1)
	wg.Go(func() { codes <- get("/busy?n=late") })
	if status := get("/calm"); status != 200 {
		t.Errorf("the other business waited for the busy one: %d", status)
	}
	if got := <-started; got != "calm" {
		t.Errorf("started %s before calm: the busy business went over its share", got)
	}
	if status := <-codes; status != http.StatusServiceUnavailable {
		t.Errorf("the waiting request: %d, want 503 after the wait", status)
	}
	close(release)
	wg.Wait()

	// A handler that ends its turn early lets the next request of its business in while it
	// still runs.
	releaseMu.Lock()
	release = make(chan struct{})
	releaseMu.Unlock()
	next := func(what string) string {
		t.Helper()
		select {
		case got := <-started:
			return got
		case <-time.After(5 * time.Second):
			t.Errorf("%s never started", what)
			return ""
		}
	}
	wg.Go(func() { get("/busy?n=early&wait=1") })
	if got := next("the early request"); got != "busyearly" {
		t.Fatalf("started %s", got)
	}
	if status := get("/busy?n=3"); status != 200 {
		t.Errorf("after EndTurn: %d, want 200", status)
	}
	next("the request after EndTurn")
	close(release)
	wg.Wait()
}

// A request waiting for its business's turn goes ahead as soon as the turn is given back, in
// the order the requests came.
func TestFairShareWaiterGoesNext(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{})
	share := web.FairShare{N: 1, Wait: 5 * time.Second}
	tenanttest.MustProvision(t, m, "aaa")
	hold := make(chan struct{})
	started := make(chan string, 4)
	srv := httptest.NewServer(web.TenantMiddleware(m, share, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		started <- r.URL.RawQuery
		if r.URL.RawQuery == "hold" {
			<-hold
		}
	}), func(w http.ResponseWriter, _ *http.Request, status int, _ error) { w.WriteHeader(status) }))
	defer srv.Close()
	go func() {
		if res, err := http.Get(srv.URL + "/aaa?hold"); err == nil {
			_ = res.Body.Close()
		}
	}()
	<-started
	done := make(chan string, 2)
	for _, q := range []string{"first", "second"} {
		go func() {
			if res, err := http.Get(srv.URL + "/aaa?" + q); err == nil && res.StatusCode == 200 {
				done <- q
			} else {
				done <- "failed"
			}
		}()
		time.Sleep(50 * time.Millisecond) // queued in this order
	}
	select {
	case got := <-started:
		t.Fatalf("%s started while the business's turn was held", got)
	case <-time.After(100 * time.Millisecond):
	}
	t0 := time.Now()
	close(hold)
	for _, want := range []string{"first", "second"} {
		select {
		case got := <-started:
			if got != want {
				t.Errorf("started %s, want %s", got, want)
			}
		case <-time.After(4 * time.Second):
			t.Fatalf("%s kept waiting after the turn was given back", want)
		}
	}
	for range 2 {
		if got := <-done; got == "failed" {
			t.Error("a waiting request failed")
		}
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("the waiting requests took %v after the turn was given back", took)
	}
}
