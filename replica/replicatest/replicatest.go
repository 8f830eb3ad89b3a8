// Package replicatest runs an S3-compatible server (gofakes3, in memory) for tests of
// replication, over TLS with AWS_CA_BUNDLE pointing at its certificate: a replica client that
// ignored the variable could not connect.
package replicatest

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	gcblob "gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // the listing of Keys

	"github.com/reserva/reserva/replica"
)

// S3 is a running fake S3 server with one bucket.
type S3 struct {
	// URL is a replica URL on the bucket: s3://reserva/<prefix>?endpoint=…&region=…
	URL       string
	Server    *httptest.Server
	bucketURL string
	down      atomic.Bool
	hold      atomic.Pointer[holdState]
}

type holdState struct {
	match   string        // held: uploads whose path holds it ("": all)
	arrived chan struct{} // gets a value for each upload held
	release chan struct{} // closed to let them through
}

// SetDown makes the server answer every request with 503 (down) or serve again.
func (s *S3) SetDown(down bool) { s.down.Store(down) }

// HoldUploads makes uploads (PUT) wait, from now until release is called (also at the end of
// the test); arrived gets a value as each one starts waiting.
func (s *S3) HoldUploads(t testing.TB) (arrived <-chan struct{}, release func()) {
	return s.HoldUploadsOf(t, "")
}

// HoldUploadsOf is HoldUploads for the uploads whose key holds part (a name's level-0 LTX
// files: "tenants/<id>/ltx/0/"); others pass.
func (s *S3) HoldUploadsOf(t testing.TB, part string) (arrived <-chan struct{}, release func()) {
	h := &holdState{match: part, arrived: make(chan struct{}, 64), release: make(chan struct{})}
	s.hold.Store(h)
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.hold.CompareAndSwap(h, nil)
			close(h.release)
		})
	}
	t.Cleanup(release)
	return h.arrived, release
}

// NewS3 starts the server until the test ends and sets the AWS variables (credentials, region,
// AWS_CA_BUNDLE) for it; the test cannot run in parallel with others.
func NewS3(t testing.TB, prefix string) *S3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("reserva"); err != nil {
		t.Fatal(err)
	}
	s := &S3{}
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		if h := s.hold.Load(); h != nil && r.Method == http.MethodPut && strings.Contains(r.URL.Path, h.match) {
			select {
			case h.arrived <- struct{}{}:
			default:
			}
			<-h.release
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, ok := t.(interface{ Setenv(string, string) }); ok {
		s.Setenv("AWS_CA_BUNDLE", bundle)
		s.Setenv("AWS_ACCESS_KEY_ID", "test")
		s.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		s.Setenv("AWS_REGION", "us-east-1")
	}
	q := "endpoint=" + srv.URL + "&region=us-east-1"
	s.URL, s.Server, s.bucketURL = "s3://reserva/"+prefix+"?"+q, srv, "s3://reserva?"+q+"&use_path_style=true"
	return s
}

// Keys lists every key in the bucket.
func (s *S3) Keys(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	b, err := gcblob.OpenBucket(ctx, s.bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }() // only listed
	var out []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, obj.Key)
	}
}

// Open opens the replica at url for tb, fails tb if it cannot, and closes it at the end of the
// test (a failed close fails the test: it is the last sync of what was attached).
func Open(tb testing.TB, url string, opts replica.Options) *replica.Replicator {
	tb.Helper()
	r, err := replica.Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return r
}
