package cluster_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// A request forwarded to an owner that accepts the connection but never answers (a SIGSTOPped
// process) is answered 503 within the forwarder's bound, with Retry-After and a message that
// says a retry is safe, instead of holding the client for a minute.
func TestForwardToStalledOwner(t *testing.T) {
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	stalled := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-release // paused: never answers while the test waits
	}))
	t.Cleanup(stalled.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets Close return
	target, err := url.Parse(stalled.URL)
	if err != nil {
		t.Fatal(err)
	}
	fwd := cluster.NewForwarder(cluster.ForwarderConfig{
		Self:  "a",
		Owner: func(*http.Request, bool) (string, error) { return "b", nil },
		Addr:  func(string) (*url.URL, error) { return target, nil },
		Local: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("served locally") }),
	})
	front := httptest.NewServer(fwd)
	t.Cleanup(front.Close)

	// The client's own bound is far above the forwarder's and far below the old minute.
	client := &http.Client{Timeout: 15 * time.Second}
	start := time.Now()
	resp, err := client.Post(front.URL+"/acme/graphql", "application/json", strings.NewReader(`{"query":"mutation{x}"}`))
	if err != nil {
		t.Fatalf("forward to a stalled owner: %v (after %s), want a 503 within %s", err, time.Since(start), cluster.DefaultForwardHeaderTimeout)
	}
	took := time.Since(start)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	select {
	case <-reached:
	default:
		t.Error("the request never reached the owner")
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("got %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(body), "not answering") || !strings.Contains(string(body), "again is safe") {
		t.Errorf("message %q does not say the owner is not answering and a retry is safe", body)
	}
	if took > cluster.DefaultForwardHeaderTimeout+2*time.Second {
		t.Errorf("answered after %s, want within about %s", took, cluster.DefaultForwardHeaderTimeout)
	}
}
