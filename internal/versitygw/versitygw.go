// Package versitygw runs the Versity S3 gateway (github.com/versity/versitygw, v1.8.0) for
// tests: a real S3-compatible server in its own process, on a free loopback port, with its
// posix backend in the test's temporary directory. .ci/run installs the binary with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` (into GOPATH/bin).
package versitygw

import (
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Install is how to get the binary.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running gateway with one bucket.
type Server struct {
	// Endpoint is its address, http://127.0.0.1:PORT.
	Endpoint string
	// Bucket is the bucket made for the test.
	Bucket string
	// AccessKey and SecretKey are the root account's credentials.
	AccessKey, SecretKey string
}

// ReplicaURL is the s3:// URL of prefix in the server's bucket, as --replica takes it.
func (s *Server) ReplicaURL(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=" + s.Endpoint + "&region=us-east-1"
}

// Env is the environment a client process needs to reach the server.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// Binary returns the path of the versitygw binary: on PATH, or in GOBIN or GOPATH/bin where
// `go install` puts it; "" when there is none.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var dirs []string
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Start runs a gateway until the end of the test, with an empty bucket. Without the binary
// the test is skipped, with a message that says how to install it; under CI (CI=true) it fails
// instead, since CI installs it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("versitygw is not installed (CI=true, so it must be: %s)", Install)
		}
		tb.Skipf("versitygw is not installed, so the S3 end-to-end test is skipped; install it with: %s", Install)
	}
	root := filepath.Join(tb.TempDir(), "s3")
	s := &Server{Bucket: "reserva", AccessKey: "test" + strings.ToLower(rand.Text()[:12]), SecretKey: rand.Text()}
	// The posix backend serves each directory of its root as a bucket.
	if err := os.MkdirAll(filepath.Join(root, s.Bucket), 0o700); err != nil {
		tb.Fatal(err)
	}
	// A free port, found by listening on port 0; another process may take it before the
	// gateway does, so a gateway that exits at once is started again on a new one.
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close() // freed for the gateway
		logs, err := os.CreateTemp(tb.TempDir(), "versitygw-*.log")
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet", "posix", root)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start versitygw: %v", err)
		}
		_ = logs.Close() // the process has its own copy
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }() // killed at the end by design
		if waitListening(addr, exited, 20*time.Second) {
			tb.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			s.Endpoint = "http://" + addr
			return s
		}
		_ = cmd.Process.Kill()
		<-exited
		if attempt == 2 {
			out, _ := os.ReadFile(logs.Name())
			tb.Fatalf("versitygw did not start on %s:\n%s", addr, out)
		}
	}
}

// waitListening waits until addr accepts connections (true), the process exits or the wait
// runs out (false).
func waitListening(addr string, exited <-chan struct{}, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}
