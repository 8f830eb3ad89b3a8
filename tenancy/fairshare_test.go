package tenancy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
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
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, _ := tenancy.FromContext(r.Context())
		started <- l.Tenant.Slug + r.URL.Query().Get("n")
		if r.URL.Query().Get("n") == "early" {
			tenancy.EndTurn(r.Context())
		}
		if r.URL.Query().Get("wait") != "" {
			<-release
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

	// A handler that ends its turn early lets the next request in while it still runs.
	release = make(chan struct{})
	wg.Go(func() { get("/busy?n=early&wait=1") })
	<-started
	if status := get("/busy?n=3"); status != 200 {
		t.Errorf("after EndTurn: %d", status)
	}
	<-started
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
