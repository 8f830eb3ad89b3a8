package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a running command writes to it.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // told (without blocking) after each write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote == nil {
		b.wrote = make(chan struct{}, 1)
	}
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote == nil {
		b.wrote = make(chan struct{}, 1)
	}
	return b.wrote
}

// await returns the first match of re in what the running command writes, waiting for it as
// the command writes, until it exits or 10 s pass (then the error says which).
func (b *syncBuffer) await(re *regexp.Regexp, exited <-chan int) ([]string, error) {
	timeout := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m, nil
		}
		select {
		case <-b.changed():
		case code := <-exited:
			return nil, fmt.Errorf("exited %d before writing %s", code, re)
		case <-timeout:
			return nil, fmt.Errorf("did not write %s in 10 s", re)
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// reserva runs one command to completion and returns its exit status and output.
func reserva(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLITenants(t *testing.T) {
	data := t.TempDir()

	code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme Studio", "--timezone", "Europe/Madrid")
	if code != 0 || !strings.Contains(out, "Created acme") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, _, errOut = reserva(t, "", "tenants", "create", "--data", data, "--slug", "../etc", "--name", "X")
	if code != 1 || !strings.Contains(errOut, `slug "../etc" has '.'`) {
		t.Errorf("create with a bad slug: %d %q", code, errOut)
	}
	code, _, errOut = reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Again")
	if code != 1 || !strings.Contains(errOut, "slug is taken") {
		t.Errorf("create with a taken slug: %d %q", code, errOut)
	}
	// A business whose owner the domain refuses is not created at all: the slug stays free.
	code, _, errOut = reserva(t, "", "tenants", "create", "--data", data, "--slug", "solo", "--name", "Solo",
		"--demo", "--owner-email", "owner@localhost")
	if code != 1 || !strings.Contains(errOut, "not an email address") {
		t.Errorf("create with a bad owner: %d %q", code, errOut)
	}
	code, out, errOut = reserva(t, "", "tenants", "create", "--data", data, "--slug", "solo", "--name", "Solo",
		"--demo", "--owner-email", "owner@solo.example")
	if code != 0 || !strings.Contains(out, "Owner owner@solo.example can sign in at /solo/admin") {
		t.Errorf("create after the refused owner: %d %q %q", code, out, errOut)
	}
	if code, out, _ := reserva(t, "", "tenants", "delete", "--data", data, "--slug", "solo", "--yes"); code != 0 {
		t.Fatalf("delete solo: %d %q", code, out)
	}
	code, _, errOut = reserva(t, "", "tenants", "create", "--data", data, "--bogus")
	if code != 2 || !strings.Contains(errOut, "flag provided but not defined: -bogus") {
		t.Errorf("unknown flag: %d %q", code, errOut)
	}

	code, out, _ = reserva(t, "", "tenants", "list", "--data", data)
	if code != 0 || !regexp.MustCompile(`(?m)^acme\s+Acme Studio\s+Europe/Madrid\s+\d+/\d+\s+ok\s+never\s+[a-z2-7]{26}$`).MatchString(out) {
		t.Errorf("list: %d\n%s", code, out)
	}

	code, out, _ = reserva(t, "", "tenants", "rename", "--data", data, "--slug", "acme", "--to", "acme-studio")
	if code != 0 || !strings.Contains(out, "Renamed acme to acme-studio") {
		t.Errorf("rename: %d %q", code, out)
	}

	// Deleting asks for the slug to be typed; anything else deletes nothing.
	code, _, errOut = reserva(t, "acme\n", "tenants", "delete", "--data", data, "--slug", "acme-studio")
	if code != 1 || !strings.Contains(errOut, "not confirmed") {
		t.Errorf("delete with a wrong confirmation: %d %q", code, errOut)
	}
	if files, _ := filepath.Glob(filepath.Join(data, "tenants", "*", "*.db")); len(files) != 1 {
		t.Fatalf("after an unconfirmed delete: %v", files)
	}
	code, out, _ = reserva(t, "acme-studio\n", "tenants", "delete", "--data", data, "--slug", "acme-studio")
	if code != 0 || !strings.Contains(out, "Deleted acme-studio") {
		t.Errorf("delete: %d %q", code, out)
	}
	if files, _ := filepath.Glob(filepath.Join(data, "tenants", "*", "*")); len(files) != 0 {
		t.Errorf("files left after delete: %v", files)
	}
	code, out, _ = reserva(t, "", "tenants", "list", "--data", data)
	if code != 0 || strings.Contains(out, "acme") || !strings.Contains(out, "0 tenants") {
		t.Errorf("list after delete: %d\n%s", code, out)
	}
	code, _, errOut = reserva(t, "", "tenants", "delete", "--data", data, "--slug", "ghost", "--yes")
	if code != 1 || !strings.Contains(errOut, `no tenant has the slug "ghost"`) {
		t.Errorf("delete of an unknown slug: %d %q", code, errOut)
	}
}

func TestCLIServe(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}

	ctx, stop := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &errOut)
	}()
	m, err := out.await(regexp.MustCompile(`running at (http://\S+)`), exited)
	if err != nil {
		t.Fatalf("serve did not start: %v: %q %q", err, out.String(), errOut.String())
	}
	base := m[1]
	// A data directory that already had tenants gets no demo tenant.
	if strings.Contains(out.String(), "/demo") {
		t.Errorf("demo tenant offered in a non-empty data directory: %q", out.String())
	}

	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/acme", 200, `data-testid="business-name">Acme<`},
		{"/nope", 404, "Page not found"},
		{"/demo", 404, "Page not found"},
		{"/healthz", 200, "ok"},
		{"/readyz", 200, "ready"},
		{"/metrics", 200, `reserva_http_requests_total{route="GET /{slug}",status="200"} 1`},
		// Requests answered before any route (no such business) are counted too: the figures
		// cover the whole request, business lookup included.
		{"/metrics", 200, `reserva_http_requests_total{route="unrouted",status="404"} 2`},
	} {
		res, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != c.status || !strings.Contains(string(body), c.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", c.path, res.StatusCode, body, c.status, c.body)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", c.path)
		}
	}

	// GraphQL requests are timed by kind: lookups apart from bookings.
	res, err := http.Post(base+"/acme/graphql", "application/json", strings.NewReader(`{"query":"{ business { name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	res, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if want := `reserva_http_request_duration_seconds_count{route="POST /{slug}/graphql query"} 1`; !strings.Contains(string(metricsText), want) {
		t.Errorf("after a GraphQL query, /metrics lacks %s", want)
	}

	stop() // what SIGINT does
	select {
	case code := <-exited:
		if code != 0 || !strings.Contains(errOut.String(), "stopped cleanly") {
			t.Errorf("serve exited %d: %q", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
	// Every tenant database was closed cleanly: SQLite removes the -wal file on a clean close.
	if wal, _ := filepath.Glob(filepath.Join(data, "tenants", "*", "*.db-wal")); len(wal) != 0 {
		t.Errorf("WAL files left after shutdown: %v", wal)
	}
	// The request to acme was recorded as its last-seen time on the way out.
	_, list, _ := reserva(t, "", "tenants", "list", "--data", data)
	if strings.Contains(list, "never") {
		t.Errorf("last seen not recorded:\n%s", list)
	}
}

func TestCLIServeFirstStartMakesDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "fresh")
	ctx, stop := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &errOut)
	}()
	m, err := out.await(regexp.MustCompile(`(http://\S+/demo)`), exited)
	if err != nil {
		t.Fatalf("serve did not print the demo URL: %v: %q %q", err, out.String(), errOut.String())
	}
	demo := m[1]
	res, err := http.Get(demo)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Demo Studio") {
		t.Errorf("GET %s = %d %q", demo, res.StatusCode, body)
	}
	// The demo business comes with its services.
	if n := strings.Count(string(body), `data-testid="service"`); n != 3 || !strings.Contains(string(body), "Haircut") {
		t.Errorf("demo page lists %d services: %s", n, body)
	}
	// The printed owner credentials open the demo dashboard.
	login := regexp.MustCompile(`(http://\S+/demo/admin) \(sign in as (\S+) with the password (\S+)\)`).FindStringSubmatch(out.String())
	if login == nil {
		t.Fatalf("no demo sign-in printed: %q", out.String())
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noRedirect.PostForm(login[1]+"/login", url.Values{"email": {login[2]}, "password": {login[3]}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/demo/admin" {
		t.Errorf("demo owner sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	stop()
	if code := <-exited; code != 0 {
		t.Errorf("serve exited %d: %s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(data, "registry.db")); err != nil {
		t.Error(err)
	}
}

func TestCLIErrors(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		code  int
		wants string
	}{
		{"NoCommand", nil, nil, 2, "Usage:"},
		{"UnknownCommand", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"TenantsHelp", nil, []string{"tenants", "-h"}, 0, "reserva tenants create"},
		{"MissingSlug", nil, []string{"tenants", "create", "--data", data, "--name", "X"}, 2, "--slug is required"},
		{"MissingTo", nil, []string{"tenants", "rename", "--data", data, "--slug", "x"}, 2, "--to is required"},
		{"NoData", nil, []string{"tenants", "list", "--data", filepath.Join(data, "typo")}, 1, "no Reserva data in"},
		{"BadEnv", map[string]string{"RESERVA_IDLE_TIMEOUT": "soon"}, []string{"tenants", "list", "--data", data}, 2, `RESERVA_IDLE_TIMEOUT="soon"`},
		{"TinyIdle", nil, []string{"tenants", "list", "--data", data, "--idle-timeout", "1ns"}, 2, "at least 1s"},
		{"BadWorkers", nil, []string{"migrate", "--data", data, "--workers", "-3"}, 2, "--workers must be between 1 and 64"},
		{"UnknownJob", nil, []string{"jobs", "run", "nap", "--data", data}, 2, `unknown job "nap"`},
		{"HostNeedsOne", nil, []string{"tenants", "host", "--data", data, "--slug", "x"}, 2, "one of --add or --remove"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, errOut := reserva(t, "", c.args...)
			if code != c.code || !strings.Contains(errOut, c.wants) {
				t.Errorf("reserva %v = %d %q, want %d and %q", c.args, code, errOut, c.code, c.wants)
			}
		})
	}
}

// The help names every job `reserva jobs run` runs, and so does the error for a missing one.
func TestCLIJobsUsage(t *testing.T) {
	_, _, help := reserva(t, "", "help")
	line := ""
	for l := range strings.Lines(help) {
		if strings.Contains(l, "reserva jobs run") {
			line = l
		}
	}
	_, _, missing := reserva(t, "", "jobs", "run")
	for _, job := range runnableJobs {
		if !strings.Contains(line, job) {
			t.Errorf("help line %q does not name job %s", line, job)
		}
		if !strings.Contains(missing, job) {
			t.Errorf("usage error %q does not name job %s", missing, job)
		}
	}
}

// While a server runs on a data directory, the CLI refuses to erase its businesses (the server
// would keep writing to the deleted files) and a second server refuses to start.
func TestCLIDeleteWhileServing(t *testing.T) {
	data := t.TempDir()
	reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme")
	unlock, err := lockDataDir(data) // what a running server holds
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := reserva(t, "", "tenants", "delete", "--data", data, "--slug", "acme", "--yes")
	if code != 1 || !strings.Contains(errOut, "stop the server first") {
		t.Errorf("delete while serving: %d %q", code, errOut)
	}
	code, _, errOut = reserva(t, "", "serve", "--data", data, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "another reserva process") {
		t.Errorf("second server: %d %q", code, errOut)
	}
	unlock()
	if code, _, errOut := reserva(t, "", "tenants", "delete", "--data", data, "--slug", "acme", "--yes"); code != 0 {
		t.Errorf("delete after the server stopped: %d %q", code, errOut)
	}
}

func TestCLIBackupRestoreExport(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := reserva(t, "", "backup", "--data", data)
	if code != 0 || !strings.Contains(out, "1 backed up") {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	code, out, _ = reserva(t, "", "backups", "list", "--data", data, "--tenant", "acme")
	m := regexp.MustCompile(`(?m)^([a-z2-7]{26})\s`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "1 backups of acme") {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, errOut = reserva(t, "", "restore", "--data", data, "--tenant", "acme", "--at", m[1], "--into", "acme-copy")
	if code != 0 || !strings.Contains(out, "into the new business acme-copy") {
		t.Fatalf("restore --into: %d %q %q", code, out, errOut)
	}
	code, out, errOut = reserva(t, "", "restore", "--data", data, "--tenant", "acme")
	if code != 0 || !strings.Contains(out, "the replaced database is kept at") {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	dir := filepath.Join(t.TempDir(), "export")
	code, out, errOut = reserva(t, "", "export", "--data", data, "--tenant", "acme-copy", "--out", dir)
	if code != 0 || !strings.Contains(out, "Exported acme-copy") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	services, err := os.ReadFile(filepath.Join(dir, "services.json"))
	if err != nil || !strings.Contains(string(services), "Haircut") {
		t.Errorf("exported services: %s %v", services, err)
	}
	if code, out, errOut := reserva(t, "", "jobs", "run", "stats", "--data", data); code != 0 || !strings.Contains(out, "2 tenants counted") {
		t.Fatalf("stats job: %d %q %q", code, out, errOut)
	}
	// The demo's bookings were all made today.
	code, out, _ = reserva(t, "", "stats", "--data", data)
	if code != 0 || !regexp.MustCompile(`(?m)^acme\s+[1-9]\d*\s+0\s+\d+$`).MatchString(out) {
		t.Errorf("stats: %d\n%s", code, out)
	}
}

// serve lets twice as many threads run Go code as there are cores, doubling only once however
// often a process serves, and leaves an explicit GOMAXPROCS alone.
func TestServerProcs(t *testing.T) {
	cores := startingProcs()
	defer runtime.GOMAXPROCS(cores)
	for range 2 {
		if got := serverProcs(); got != cores {
			t.Fatalf("serverProcs() = %d, want the starting %d", got, cores)
		}
		if got := runtime.GOMAXPROCS(0); got != 2*cores {
			t.Fatalf("GOMAXPROCS = %d, want %d", got, 2*cores)
		}
	}
	runtime.GOMAXPROCS(cores)
	t.Setenv("GOMAXPROCS", strconv.Itoa(cores))
	serverProcs()
	if got := runtime.GOMAXPROCS(0); got != cores {
		t.Errorf("GOMAXPROCS = %d with GOMAXPROCS=%d set, want it left alone", got, cores)
	}
}

// The README's table of flags shows the defaults the flags really have (the Default…
// constants of tenancy), so that docs and code cannot drift apart.
func TestReadmeFlagDefaults(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cfg config
	fs := newFlags("serve", &cfg, io.Discard, "")
	for _, name := range []string{"data", "max-open-tenants", "idle-timeout", "log-level"} {
		t.Run(name, func(t *testing.T) {
			row := regexp.MustCompile("(?m)^\\| `--" + name + "[^`]*` \\| [^|]* \\| `([^`]*)` \\|").FindSubmatch(readme)
			if row == nil {
				t.Fatalf("no row for --%s with a default in README.md", name)
			}
			doc, def := strings.TrimPrefix(string(row[1]), "./"), fs.Lookup(name).DefValue
			if d, err := time.ParseDuration(doc); err == nil {
				doc = d.String()
			}
			if !strings.EqualFold(doc, def) {
				t.Errorf("README.md says --%s defaults to %q; the flag's default is %q", name, doc, def)
			}
		})
	}
}
