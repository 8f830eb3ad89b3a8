package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/reserva/reserva/cluster"
)

// ownership is a node's view of who owns each tenant (the first path segment): cached may be
// stale, truth is what a fresh read finds.
type ownership struct {
	mu     sync.Mutex
	cached map[string]string
	truth  *sync.Map // shared by every node
}

func (o *ownership) owner(r *http.Request, fresh bool) (string, error) {
	tenant, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if tenant == "broken" {
		return "", fmt.Errorf("placement: %w", cluster.ErrUnknown)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !fresh {
		if n, ok := o.cached[tenant]; ok {
			return n, nil
		}
	}
	n, _ := o.truth.Load(tenant)
	s, _ := n.(string)
	o.cached[tenant] = s
	return s, nil
}

// testCluster is three HTTP nodes a, b, c on 127.0.0.1, each a Forwarder in front of a local
// handler that says who served the request and echoes websockets.
type testCluster struct {
	urls  map[string]*url.URL
	views map[string]*ownership
	truth *sync.Map
	hits  map[string]*atomic.Int32
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := &testCluster{urls: map[string]*url.URL{}, views: map[string]*ownership{}, truth: &sync.Map{}, hits: map[string]*atomic.Int32{}}
	for _, id := range []string{"a", "b", "c"} {
		view := &ownership{cached: map[string]string{}, truth: tc.truth}
		hits := &atomic.Int32{}
		local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.Header.Get("Upgrade") == "websocket" {
				echo(t, id, w, r)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("node %s: read body: %v", id, err)
			}
			fmt.Fprintf(w, "served by %s; forwarded by %q; host %s; body %q",
				id, r.Header.Get(cluster.ForwardedHeader), r.Host, body)
		})
		srv := httptest.NewUnstartedServer(nil)
		f := cluster.NewForwarder(cluster.ForwarderConfig{
			Self: id, Owner: view.owner, Local: local,
			Addr: func(node string) (*url.URL, error) {
				u, ok := tc.urls[node]
				if !ok {
					return nil, fmt.Errorf("node %s: %w", node, cluster.ErrNotFound)
				}
				return u, nil
			},
		})
		srv.Config.Handler = f
		srv.Start()
		t.Cleanup(srv.Close)
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		tc.urls[id], tc.views[id], tc.hits[id] = u, view, hits
	}
	return tc
}

// echo answers a websocket with each message prefixed by the node's id.
func echo(t *testing.T, id string, w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		t.Errorf("node %s: accept websocket: %v", id, err)
		return
	}
	defer func() { _ = c.CloseNow() }() // the client closes first; this only frees resources
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, append([]byte(id+":"), msg...)); err != nil {
			return
		}
	}
}

func (tc *testCluster) place(tenant, node string) { tc.truth.Store(tenant, node) }

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // read in full below
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestForwarder(t *testing.T) {
	tc := newTestCluster(t)
	tc.place("acme", "b")

	t.Run("OwnerServesLocally", func(t *testing.T) {
		req, _ := http.NewRequest("GET", tc.urls["b"].String()+"/acme/book", nil)
		code, body := do(t, req)
		if code != 200 || !strings.HasPrefix(body, `served by b; forwarded by ""`) {
			t.Fatalf("got %d %q, want b to serve it itself", code, body)
		}
	})

	t.Run("Forwards", func(t *testing.T) {
		req, _ := http.NewRequest("POST", tc.urls["a"].String()+"/acme/book", strings.NewReader("slot=10:00"))
		req.Host = "book.acme.example"
		code, body := do(t, req)
		want := `served by b; forwarded by "a"; host book.acme.example; body "slot=10:00"`
		if code != 200 || body != want {
			t.Fatalf("got %d %q, want %q", code, body, want)
		}
	})

	t.Run("NoSecondHop", func(t *testing.T) {
		before := tc.hits["c"].Load()
		// b is told by a that b owns it, but b thinks c does: b must not send it on.
		tc.views["b"].mu.Lock()
		tc.views["b"].cached["hop"] = "c"
		tc.views["b"].mu.Unlock()
		req, _ := http.NewRequest("GET", tc.urls["b"].String()+"/hop/book", nil)
		req.Header.Set(cluster.ForwardedHeader, "a")
		if code, body := do(t, req); code != http.StatusMisdirectedRequest {
			t.Fatalf("got %d %q, want 421", code, body)
		}
		if n := tc.hits["c"].Load() - before; n != 0 {
			t.Fatalf("c was reached %d times: a forwarded request was forwarded again", n)
		}
	})

	t.Run("Retry421", func(t *testing.T) {
		// The tenant moved from b to c; a still thinks b owns it.
		tc.place("moved", "c")
		for _, v := range []string{"a", "b"} {
			tc.views[v].mu.Lock()
			tc.views[v].cached["moved"] = "b"
			tc.views[v].mu.Unlock()
		}
		tc.views["b"].mu.Lock()
		tc.views["b"].cached["moved"] = "c" // b knows it gave the tenant away
		tc.views["b"].mu.Unlock()
		beforeB := tc.hits["b"].Load()
		req, _ := http.NewRequest("POST", tc.urls["a"].String()+"/moved/book", strings.NewReader("slot=11:00"))
		code, body := do(t, req)
		want := `served by c; forwarded by "a"; host ` + tc.urls["a"].Host + `; body "slot=11:00"`
		if code != 200 || body != want {
			t.Fatalf("got %d %q, want %q", code, body, want)
		}
		if n := tc.hits["b"].Load() - beforeB; n != 0 {
			t.Fatalf("b's handler ran %d times for a tenant it does not own", n)
		}
		// a's view is fresh now: the next request goes straight to c.
		if owner, _ := tc.views["a"].owner(req, false); owner != "c" {
			t.Fatalf("a's view after the retry says %q, want c", owner)
		}
	})

	t.Run("Retry421ToSelf", func(t *testing.T) {
		tc.place("home", "a")
		tc.views["a"].mu.Lock()
		tc.views["a"].cached["home"] = "c" // stale: the tenant came to a
		tc.views["a"].mu.Unlock()
		tc.views["c"].mu.Lock()
		tc.views["c"].cached["home"] = "a"
		tc.views["c"].mu.Unlock()
		req, _ := http.NewRequest("POST", tc.urls["a"].String()+"/home/book", strings.NewReader("x=1"))
		code, body := do(t, req)
		if code != 200 || !strings.HasPrefix(body, `served by a; forwarded by ""`) || !strings.HasSuffix(body, `body "x=1"`) {
			t.Fatalf("got %d %q, want a to serve it with its body", code, body)
		}
	})

	t.Run("OwnerDown", func(t *testing.T) {
		tc.place("gone", "d") // d's address is a closed port
		closed := httptest.NewServer(http.NotFoundHandler())
		u, _ := url.Parse(closed.URL)
		closed.Close()
		tc.urls["d"] = u
		defer delete(tc.urls, "d")
		req, _ := http.NewRequest("GET", tc.urls["a"].String()+"/gone/book", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close() // only the status matters
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("OwnerUnknown", func(t *testing.T) {
		req, _ := http.NewRequest("GET", tc.urls["a"].String()+"/broken/book", nil)
		if code, body := do(t, req); code != http.StatusServiceUnavailable {
			t.Fatalf("got %d %q, want 503 when the owner cannot be known", code, body)
		}
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		big := strings.Repeat("x", cluster.DefaultMaxForwardBody+1)
		req, _ := http.NewRequest("POST", tc.urls["a"].String()+"/acme/book", strings.NewReader(big))
		if code, _ := do(t, req); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", code)
		}
	})

	t.Run("Websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		wsURL := "ws://" + tc.urls["a"].Host + "/acme/graphql"
		c, resp, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != nil {
			_ = resp.Body.Close() // an upgrade's response has no body to read
		}
		defer func() { _ = c.CloseNow() }() // closed cleanly below
		for _, msg := range []string{"one", "two"} {
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "b:"+msg {
				t.Fatalf("echo = %q, want %q (served by the owner b through a)", got, "b:"+msg)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// A forwarded request keeps the chain of addresses it came through (the proxies in front of
// the node, then the node's peer): an owner that trusts the nodes and those proxies finds the
// client's own address, for its per-client limits (a sign-up forwarded to the controller).
func TestForwarderKeepsClientChain(t *testing.T) {
	seen := make(chan string, 1)
	owner := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("X-Forwarded-For")
	}))
	defer owner.Close()
	ownerURL, err := url.Parse(owner.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := cluster.NewForwarder(cluster.ForwarderConfig{
		Self:  "a",
		Owner: func(*http.Request, bool) (string, error) { return "o", nil },
		Addr:  func(string) (*url.URL, error) { return ownerURL, nil },
		Local: http.NotFoundHandler(),
	})
	node := httptest.NewServer(f)
	defer node.Close()
	req, err := http.NewRequest(http.MethodPost, node.URL+"/signup", strings.NewReader("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only what the owner saw matters
	if got := <-seen; got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("the owner saw X-Forwarded-For %q, want the client's chain with the node's peer appended", got)
	}
}
