package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// The bodies buffered before routing share one budget: with it full of slow uploads, the next
// request with a body gets 503 with Retry-After once the budget's wait is over (not when the
// slow ones end), requests without a body are served, bodies over the per-request limit still
// get 413, and every request gives its share back when it ends, a client that went away
// included. Before, there was no budget: any number of slow bodies were held at once.
func TestBodyBudget(t *testing.T) {
	const budgetWait = 300 * time.Millisecond
	query := `{"query":"{ business { name } }"}`
	full := query + strings.Repeat(" ", domain.MaxBodyBytes-len(query)) // a body at the limit
	var mu sync.Mutex
	reading := map[string]chan struct{}{} // by X-Slow: the server began reading that body
	done := map[string]chan int{}         // by X-Slow: that request ended, with its status
	track := func(id string) (chan struct{}, chan int) {
		mu.Lock()
		defer mu.Unlock()
		if reading[id] == nil {
			reading[id], done[id] = make(chan struct{}), make(chan int, 1)
		}
		return reading[id], done[id]
	}
	srv, _ := siteFull(t, tenancy.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Slow")
			if id == "" {
				next.ServeHTTP(w, r)
				return
			}
			ch, end := track(id)
			r.Body = &readAtLeast{ReadCloser: r.Body, n: len(full) - 1, ch: ch}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			end <- rec.status
		})
	}, slog.New(slog.DiscardHandler), func(s *web.Server) {
		// Room for two bodies at the limit, each with the byte its EOF is read into.
		s.BodyBudget = web.BodyBudget{Bytes: 2 * (domain.MaxBodyBytes + 1), Wait: budgetWait}
	})

	// slow sends a body at the limit but its last byte, and returns once the server has read
	// them (so once it holds its share of the budget).
	slow := func(id string) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		fmt.Fprintf(conn, "POST /acme/graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Slow: %s\r\n\r\n%s",
			srv.Listener.Addr(), len(full), id, full[:len(full)-1])
		ch, _ := track(id)
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("the server never began reading slow body %s", id)
		}
		return conn
	}
	post := func(body string) (int, http.Header, string) {
		t.Helper()
		res, err := http.Post(srv.URL+"/acme/graphql", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }() // read in full below
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	a, b := slow("a"), slow("b")
	start := time.Now()
	status, h, msg := post(query)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(msg, "try again") {
		t.Fatalf("request with a body while slow bodies fill the budget: %d Retry-After=%q %q; want 503 with Retry-After",
			status, h.Get("Retry-After"), msg)
	}
	if waited := time.Since(start); waited > budgetWait+5*time.Second {
		t.Errorf("refused after %s: the wait for the budget is %s", waited, budgetWait)
	}
	if res, err := http.Get(srv.URL + "/acme"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("request without a body while the budget is full: %v %v", res, err)
	} else {
		_ = res.Body.Close()
	}

	// A client that goes away gives its share back.
	_ = a.Close()
	_, endA := track("a")
	<-endA
	if status, _, msg := post(full + " "); status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d %.200s, want 413", status, msg)
	}
	if status, _, msg := post(query); status != http.StatusOK {
		t.Errorf("request with a body after a slow client left: %d %.200s, want 200", status, msg)
	}

	// A slow body that completes is served, and gives its share back.
	if _, err := io.WriteString(b, full[len(full)-1:]); err != nil {
		t.Fatal(err)
	}
	if status := responseStatus(t, b); status != http.StatusOK {
		t.Errorf("the slow request once complete: %d, want 200", status)
	}
	_, endB := track("b")
	<-endB

	// The whole budget is back: two bodies at the limit fit again, and no third.
	slow("c")
	slow("d")
	if status, _, _ := post(query); status != http.StatusServiceUnavailable {
		t.Errorf("request with a body with the budget full again: %d, want 503", status)
	}
}

// readAtLeast closes ch once n bytes have been read through it.
type readAtLeast struct {
	io.ReadCloser
	n    int
	read int
	ch   chan struct{}
}

func (r *readAtLeast) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if r.read < r.n && r.read+n >= r.n {
		close(r.ch)
	}
	r.read += n
	return n, err
}

// A body is counted in the budget for the bytes that arrived, not for the length it declares:
// connections that declare bodies at the limit and send one byte of them leave room for an
// honest request. Before, each held its declared megabyte from its headers on, so a few dozen
// idle connections (two here) held the whole budget, and every request with a body, on every
// business, got 503 for as long as they kept coming.
func TestBodyBudgetCountsBytesThatArrived(t *testing.T) {
	reading := make(chan struct{}, 8)
	srv, _ := siteFull(t, tenancy.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Slow") != "" {
				r.Body = firstRead{ReadCloser: r.Body, once: &sync.Once{}, ch: make(chan struct{})}
				go func(ch chan struct{}) { <-ch; reading <- struct{}{} }(r.Body.(firstRead).ch)
			}
			next.ServeHTTP(w, r)
		})
	}, slog.New(slog.DiscardHandler), func(s *web.Server) {
		s.BodyBudget = web.BodyBudget{Bytes: 2 * domain.MaxBodyBytes, Wait: 300 * time.Millisecond}
	})
	for i := range 2 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		fmt.Fprintf(conn, "POST /acme/graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Slow: %d\r\n\r\n{",
			srv.Listener.Addr(), domain.MaxBodyBytes, i)
		select {
		case <-reading:
		case <-time.After(time.Minute):
			t.Fatalf("the server never began reading slow body %d", i)
		}
	}
	res, err := http.Post(srv.URL+"/acme/graphql", "application/json", strings.NewReader(`{"query":"{ business { name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }() // read in full below
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("a request with a body beside two idle connections that declared 1 MiB each: %d %.200s, want 200", res.StatusCode, b)
	}
}
