package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// firstRead tells, once, that the server has begun reading a request's body.
type firstRead struct {
	io.ReadCloser
	once *sync.Once
	ch   chan struct{}
}

func (f firstRead) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 {
		f.once.Do(func() { close(f.ch) })
	}
	return n, err
}

// A client that sends its body a byte at a time keeps only its own request waiting: with the
// business allowed one request at a time, its other visitors are answered while the slow body is
// still incomplete. Before, the slow request took the business's turn and then read its body,
// and everyone else got 503 once they had waited FairShare.Wait.
func TestSlowBodyHurtsOnlyItself(t *testing.T) {
	reading := make(chan struct{})
	var once sync.Once
	srv, _ := siteFull(t, tenancy.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Slow") != "" {
				r.Body = firstRead{ReadCloser: r.Body, once: &once, ch: reading}
			}
			next.ServeHTTP(w, r)
		})
	}, slog.New(slog.DiscardHandler), func(s *web.Server) { s.FairShare = web.FairShare{N: 1, Wait: 2 * time.Second} })
	owner := browser(t)
	signIn(t, srv.URL, owner, "acme", "owner@acme.example")
	u, _ := http.NewRequest("GET", srv.URL, nil)
	var cookie []string
	for _, c := range owner.Jar.Cookies(u.URL) {
		cookie = append(cookie, c.String())
	}
	var logo bytes.Buffer
	mw := multipart.NewWriter(&logo)
	if err := mw.WriteField("brandColor", "#112233"); err != nil {
		t.Fatal(err)
	}
	fw, _ := mw.CreateFormFile("logo", "logo.png")
	if _, err := fw.Write(pngLogo(t)); err != nil {
		t.Fatal(err)
	}
	_ = mw.Close()

	for _, tc := range []struct {
		name, path, contentType, body string
		want                          int
	}{
		{"GraphQLJSON", "/acme/graphql", "application/json", `{"query":"{ business { name } }"}`, http.StatusOK},
		{"Multipart", "/acme/admin/settings/branding", mw.FormDataContentType(), logo.String(), http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reading = make(chan struct{})
			once = sync.Once{}
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nX-Slow: 1\r\nCookie: %s\r\n\r\n",
				tc.path, srv.Listener.Addr(), tc.contentType, len(tc.body), strings.Join(cookie, "; "))
			if _, err := conn.Write([]byte(tc.body[:1])); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reading:
			case <-time.After(time.Minute):
				t.Fatal("the server never began reading the slow body")
			}
			// The slow body is incomplete for as long as these run: the rest is sent after.
			visitor := browser(t)
			var slowest time.Duration
			for i := range 6 {
				start := time.Now()
				var status int
				var body string
				if i%2 == 0 {
					status, body, _ = send(t, visitor, "GET", srv.URL+"/acme", "", nil)
				} else {
					status, body, _ = send(t, visitor, "POST", srv.URL+"/acme/graphql", `{"query":"{ business { name } }"}`,
						map[string]string{"Content-Type": "application/json"})
				}
				slowest = max(slowest, time.Since(start))
				if status != http.StatusOK || !strings.Contains(body, "Biz acme") {
					t.Fatalf("visitor %d while a body trickles in: %d %.200s", i, status, body)
				}
			}
			t.Logf("slowest of 6 other requests while the slow body was incomplete: %s", slowest)
			// The slow client itself is served once its body is complete.
			for i := 1; i < len(tc.body); i += 4096 {
				if _, err := conn.Write([]byte(tc.body[i:min(i+4096, len(tc.body))])); err != nil {
					t.Fatal(err)
				}
			}
			if status := responseStatus(t, conn); status != tc.want {
				t.Errorf("the slow request: %d, want %d", status, tc.want)
			}
		})
	}
}

// A client that stops sending its body (gone, or too slow for the server's read timeout) is no
// fault of the platform: its request ends at once with 408, logged as the client's, not as a
// 503 with ERROR lines (before: "resolve tenant ... context canceled" and status=503 at ERROR for
// every such connection, which an attacker could repeat to flood the log and trip alerts).
func TestBodyCutShortIsTheClients(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	done := make(chan int, 1)
	srv, _ := siteFull(t, tenancy.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			done <- rec.status
		})
	}, slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"query":"{ business { name } }"}`
	fmt.Fprintf(conn, "POST /acme/graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		srv.Listener.Addr(), len(body), body[:5])
	_ = conn.Close()
	var status int
	select {
	case status = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the request never ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if status != http.StatusRequestTimeout {
		t.Errorf("request whose client stopped sending its body: %d, want 408", status)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("a client's cut-short body logged as a server error:\n%s", log.String())
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// responseStatus reads the HTTP response on conn, a raw client connection, and returns its
// status.
func responseStatus(t *testing.T, conn io.Reader) int {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close() // only the status is wanted
	return res.StatusCode
}
