package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// A business runs at most FairShare requests at once: its next one waits (and gives up with a
// 503 after FairShareWait), while another business's requests go straight through; a handler
// that ends its turn early lets the next one in.
func TestFairShare(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil, tenancy.Config{FairShare: 1, FairShareWait: 300 * time.Millisecond})
	mustProvision(t, m, "busy")
	mustProvision(t, m, "calm")
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
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, _ := tenancy.FromContext(r.Context())
		started <- l.Tenant.Slug + r.URL.Query().Get("n")
		if r.URL.Query().Get("n") == "early" {
			tenancy.EndTurn(r.Context())
		}
		if r.URL.Query().Get("wait") != "" {
			releaseMu.Lock()
			ch := release
			releaseMu.Unlock()
			<-ch
		}
	}), func(w http.ResponseWriter, r *http.Request, status int, err error) { w.WriteHeader(status) })
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) int {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}

	// While cores are free, a business may run more than its share: as many requests as there
	// are cores start at once.
	var wg sync.WaitGroup
	cores := runtime.GOMAXPROCS(0)
	for i := range cores {
		wg.Go(func() { get(fmt.Sprintf("/busy?n=%d&wait=1", i)) })
	}
	for range cores {
		<-started
	}
	// Now the process is busy: the busy business's next request waits for its own turn (and
	// gives up), while the calm business still gets its own.
	codes := make(chan int, 1)
	wg.Go(func() { codes <- get("/busy?n=late") })
	if status := get("/calm"); status != 200 {
		t.Errorf("the other business waited for the busy one: %d", status)
	}
	if got := <-started; got != "calm" {
		t.Errorf("started %s before calm: the busy business went over its share while the cores were taken", got)
	}
	if status := <-codes; status != http.StatusServiceUnavailable {
		t.Errorf("the waiting request: %d, want 503 after the wait", status)
	}
	close(release)
	wg.Wait()

	// A handler that ends its turn early lets the next request of its business in while it
	// still runs, even while the cores are taken (by the calm business here).
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
	for i := range cores {
		wg.Go(func() { get(fmt.Sprintf("/calm?n=%d&wait=1", i)) })
		next("a calm request")
	}
	wg.Go(func() { get("/busy?n=early&wait=1") })
	if got := next("the early request"); got != "busyearly" {
		t.Fatalf("started %s", got)
	}
	if status := get("/busy?n=3"); status != 200 {
		t.Errorf("after EndTurn, with the cores taken: %d, want 200", status)
	}
	next("the request after EndTurn")
	close(release)
	wg.Wait()
}

// Migrating idle tenants in bulk closes each one after its visit: the handles of the tenants
// requests use stay open.
func TestBulkMigrateKeepsActiveHandles(t *testing.T) {
	e := newEnv(t)
	old := e.manager(t, migs(t, `CREATE TABLE notes (body TEXT)`), tenancy.Config{})
	for i := range 5 {
		mustProvision(t, old, fmt.Sprintf("idle-%d", i))
	}
	hot := mustProvision(t, old, "hot")
	old.Close(context.Background())
	m := e.manager(t, migs(t, `CREATE TABLE notes (body TEXT)`, `ALTER TABLE notes ADD COLUMN at TEXT`), tenancy.Config{MaxOpen: 3})
	l, err := m.Acquire(context.Background(), hot)
	if err != nil {
		t.Fatal(err)
	}
	l.Release() // open and idle, like a business between two requests
	failed, err := m.Migrate(context.Background(), 2, func(t tenancy.Tenant) bool { return t.Slug != "hot" }, nil)
	if err != nil || len(failed) != 0 {
		t.Fatalf("migrate: %v %v", failed, err)
	}
	if st := m.Stats(); st.Open != 1 || st.Idle != 1 {
		t.Errorf("after the sweep: %+v, want only the hot tenant open", st)
	}
}

// A request waiting for its business's turn goes ahead as soon as a core frees up elsewhere: it
// does not wait for its own business's turn when the process is no longer busy.
func TestFairShareWaiterWakes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // two cores: busy at two requests
	e := newEnv(t)
	m := e.manager(t, nil, tenancy.Config{FairShare: 1, FairShareWait: 5 * time.Second})
	mustProvision(t, m, "aaa")
	mustProvision(t, m, "bbb")
	holdA, holdB := make(chan struct{}), make(chan struct{})
	started := make(chan string, 4)
	srv := httptest.NewServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path + r.URL.RawQuery
		switch r.URL.RawQuery {
		case "hold":
			if strings.HasPrefix(r.URL.Path, "/aaa") {
				<-holdA
			} else {
				<-holdB
			}
		}
	}), func(w http.ResponseWriter, r *http.Request, status int, err error) { w.WriteHeader(status) }))
	defer srv.Close()
	defer close(holdA)
	go http.Get(srv.URL + "/aaa?hold")
	<-started
	go http.Get(srv.URL + "/bbb?hold")
	<-started
	// Two requests run: busy. aaa's next one waits for aaa's turn...
	done := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		if res, err := http.Get(srv.URL + "/aaa?next"); err == nil && res.StatusCode == 200 {
			done <- time.Since(t0)
		} else {
			done <- -1
		}
	}()
	time.Sleep(100 * time.Millisecond)
	close(holdB) // ...until bbb's ends and a core is free
	select {
	case took := <-done:
		if took < 0 || took > 2*time.Second {
			t.Errorf("the waiting request: %v (want it to go ahead once a core is free)", took)
		}
	case <-time.After(4 * time.Second):
		t.Error("the waiting request kept waiting with a core free")
	}
}
