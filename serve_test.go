package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/shutdown"
)

// serve's HTTP server tells the connections that outlive a request (websockets, which Shutdown
// neither waits for nor closes) that it is shutting down, through the request's context: they
// kept their tenant's lease and serve exited with "close tenants: N still in use". The request
// context itself is not cancelled, so ordinary requests in flight finish.
func TestHTTPServerShutdownReachesLongConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inside, finished := make(chan struct{}), make(chan error, 1)
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		select {
		case <-shutdown.Signal(r.Context()):
		case <-ctx.Done():
			finished <- errors.New("the handler was not told of the shutdown")
			return
		}
		finished <- r.Context().Err() // still alive: it may write its goodbye
		w.WriteHeader(http.StatusNoContent)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	answered := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode != http.StatusNoContent {
				err = errors.New(res.Status)
			}
		}
		answered <- err
	}()
	<-inside
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-finished; err != nil {
		t.Errorf("handler: %v", err)
	}
	if err := <-answered; err != nil {
		t.Errorf("the request in flight: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("serve: %v", err)
	}
}
