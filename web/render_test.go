package web_test

import (
	"io"
	"net/http"
	"testing"
)

// A page goes out whole, with its length, in one piece: rendered straight into the response,
// templ flushed it part-way, so every page was chunked and cost the server a write to the
// connection of its own.
func TestPagesGoOutWithTheirLength(t *testing.T) {
	srv, _ := site(t)
	for _, tc := range []struct {
		path   string
		status int
	}{{"/acme", http.StatusOK}, {"/acme/admin/login", http.StatusOK}, {"/no-such-business", http.StatusNotFound}} {
		t.Run(tc.path, func(t *testing.T) {
			res, err := srv.Client().Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if len(res.TransferEncoding) != 0 || res.ContentLength != int64(len(body)) || len(body) == 0 {
				t.Errorf("sent with Transfer-Encoding %v and Content-Length %d, body of %d bytes; want no chunks and its length",
					res.TransferEncoding, res.ContentLength, len(body))
			}
		})
	}
}
