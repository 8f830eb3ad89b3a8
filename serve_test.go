package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

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

// `reserva serve` stopped while a signed-in dashboard's websocket was open exited with
// "close tenants: 1 still in use" (after 30 s): the socket kept its business's lease. Now the
// socket is closed with 1001 and serve stops cleanly.
func TestCLIServeClosesWebsockets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	var out, errOut syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(sctx, []string{"serve", "--data", filepath.Join(t.TempDir(), "fresh"), "--addr", "127.0.0.1:0"},
			strings.NewReader(""), &out, &errOut)
	}()
	defer stop()
	// The demo owner signs in to the dashboard; its session cookie authenticates the socket.
	var login []string
	for deadline := time.Now().Add(10 * time.Second); login == nil; time.Sleep(10 * time.Millisecond) {
		login = regexp.MustCompile(`(http://(\S+)/demo/admin) \(sign in as (\S+) with the password (\S+)\)`).FindStringSubmatch(out.String())
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print the demo sign-in: %q %q", out.String(), errOut.String())
		}
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(login[1]+"/login", url.Values{"email": {login[3]}, "password": {login[4]}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	var cookies []string
	for _, c := range res.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	c, _, err := websocket.Dial(ctx, "ws://"+login[2]+"/demo/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Cookie": {strings.Join(cookies, "; ")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CloseNow() }()
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init"}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	stop() // what SIGTERM does
	select {
	case code := <-exited:
		if code != 0 || !strings.Contains(errOut.String(), "stopped cleanly") {
			t.Errorf("serve exited %d with an open websocket: %q", code, errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("serve did not stop: %q", errOut.String())
	}
	if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("the websocket ended with %v; want 1001", err)
	}
}
