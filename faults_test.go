package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServe runs `reserva serve` on data until the test ends (or stop is called) and returns
// its address; extra are more flags.
func startServe(t *testing.T, data string, extra ...string) (base string, errOut *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	errOut = &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, extra...), strings.NewReader(""), &out, errOut)
	}()
	re := regexp.MustCompile(`running at (http://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited %d: %q", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %q %q", out.String(), errOut.String())
		}
	}
	done := false
	stop = func() int {
		if done {
			return 0
		}
		done = true
		cancel()
		select {
		case code := <-exited:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not shut down")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return base, errOut, stop
}

func httpGet(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

// tenantID returns the id of the business slug from `reserva tenants list`.
func tenantID(t *testing.T, data, slug string) string {
	t.Helper()
	_, out, _ := reserva(t, "", "tenants", "list", "--data", data)
	m := regexp.MustCompile(`(?m)^` + slug + `\s.*\s([a-z2-7]{26})\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in:\n%s", slug, out)
	}
	return m[1]
}

// A business whose database file became 0 bytes answers 503 (not an empty business with 200),
// is logged at ERROR, shows as failed in `tenants list` and /readyz, and is not backed up over
// its good backup.
func TestCLIZeroByteTenant(t *testing.T) {
	data := t.TempDir()
	for _, slug := range []string{"acme", "other"} {
		if code, _, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", slug, "--name", slug, "--demo"); code != 0 {
			t.Fatal(errOut)
		}
	}
	if code, out, errOut := reserva(t, "", "backup", "--data", data); code != 0 || !strings.Contains(out, "2 backed up") {
		t.Fatalf("backup: %d %q %q", code, out, errOut)
	}
	id := tenantID(t, data, "acme")
	path := filepath.Join(data, "tenants", id[:2], id+".db")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}

	// Seen before any request: by tenants list, and by serve as it starts (/readyz).
	if _, list, _ := reserva(t, "", "tenants", "list", "--data", data); !regexp.MustCompile(`(?m)^acme\s.*\sfailed\s`).MatchString(list) {
		t.Errorf("tenants list before serving does not show acme failed:\n%s", list)
	}
	base, errOut, stop := startServe(t, data)
	if code, body, _ := httpGet(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, "degraded") || !strings.Contains(body, "acme") {
		t.Errorf("GET /readyz before any request = %d %q, want ready, degraded, naming acme", code, body)
	}
	code, body, h := httpGet(t, base+"/acme")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("GET /acme = %d (Retry-After %q) %q, want 503 with Retry-After", code, h.Get("Retry-After"), body)
	}
	if code, _, _ := httpGet(t, base+"/other"); code != http.StatusOK {
		t.Errorf("GET /other = %d, want 200", code)
	}
	if code, body, _ := httpGet(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, "degraded") || !strings.Contains(body, "acme") {
		t.Errorf("GET /readyz = %d %q, want ready, degraded, naming acme", code, body)
	}
	if c := stop(); c != 0 {
		t.Errorf("serve exited %d", c)
	}
	if log := errOut.String(); !regexp.MustCompile(`level=ERROR .*tenant=acme.*is empty \(0 bytes\)`).MatchString(log) {
		t.Errorf("no ERROR line for acme's empty file:\n%s", log)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed (migrated from zero?): %v %v", fi.Size(), err)
	}

	_, list, _ := reserva(t, "", "tenants", "list", "--data", data)
	if !regexp.MustCompile(`(?m)^acme\s.*\sfailed\s`).MatchString(list) || !strings.Contains(list, "acme: failed") {
		t.Errorf("tenants list does not show acme failed:\n%s", list)
	}
	if code, out, errOut := reserva(t, "", "backup", "--data", data, "--tenant", "acme"); code != 1 {
		t.Errorf("backup of the empty file: %d %q %q, want a failure", code, out, errOut)
	}
	if _, out, _ := reserva(t, "", "backups", "list", "--data", data, "--tenant", "acme"); !strings.Contains(out, "1 backups of acme") {
		t.Errorf("the good backup is not alone:\n%s", out)
	}
}

// A registry that is missing, empty or damaged beside tenant databases stops serve with a clear
// message instead of starting a new platform (every business 404, their slugs free to take).
func TestCLIRefusesLostRegistry(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		says   string
	}{
		{"Empty", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes), but"},
		{"Missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "is missing, but"},
		// A valid SQLite file without a single table (made by hand after the real one was lost,
		// or a wrong file copied over it): as empty as 0 bytes.
		{"Blank", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			if _, err := db.Exec(`PRAGMA user_version = 1`); err != nil {
				t.Fatal(err)
			}
		}, "has no tables, but"},
		{"Damaged", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			junk := make([]byte, 8192)
			rand.Read(junk)
			if _, err := f.WriteAt(junk, 4096); err != nil { // every page but the first
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			for off := int64(8192); off < fi.Size(); off += 8192 {
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
		}, "damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			if code, _, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme"); code != 0 {
				t.Fatal(errOut)
			}
			path := filepath.Join(data, "registry.db")
			c.damage(t, path)
			before, _ := os.ReadFile(path)
			// A serve that does not refuse would run until stopped: stopped here after a while.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, stderr syncBuffer
			code := run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &stderr)
			errOut := stderr.String()
			if code != 1 || !strings.Contains(errOut, c.says) || !strings.Contains(errOut, "registry") {
				t.Errorf("serve: %d %q, want a refusal saying %q", code, errOut, c.says)
			}
			after, err := os.ReadFile(path)
			if c.name == "Missing" && !os.IsNotExist(err) {
				t.Errorf("a new registry was made: %v", err)
			}
			if c.name != "Missing" && string(after) != string(before) {
				t.Errorf("the registry was changed (%d bytes, was %d)", len(after), len(before))
			}
		})
	}
}

// Every file under the data directory is the operator's alone: files 0600, directories 0700,
// the ones SQLite makes (-wal, -shm) and backups, mail and copies included, and those an older
// release left readable are tightened when the server starts.
func TestCLIFileModes(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo",
		"--owner-email", "owner@acme.example"); code != 0 {
		t.Fatal(errOut)
	}
	// What an older release left: a world-readable database and folder.
	id := tenantID(t, data, "acme")
	if err := os.Chmod(filepath.Join(data, "tenants", id[:2], id+".db"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(data, "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"backup", "--data", data},
		{"restore", "--data", data, "--tenant", "acme", "--into", "acme-copy"},
		{"jobs", "run", "mail", "--data", data},
	} {
		if code, out, errOut := reserva(t, "", args...); code != 0 {
			t.Fatalf("%v: %d %q %q", args, code, out, errOut)
		}
	}
	check := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		_ = filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error { // skips what it cannot read
			if err != nil {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			want := os.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: %s has mode %v, want %v", when, p, fi.Mode().Perm(), want)
			}
			seen[filepath.Ext(p)] = true
			if strings.HasSuffix(p, "-wal") {
				seen["-wal"] = true
			}
			return nil
		})
		for _, ext := range []string{".db", ".gz"} {
			if !seen[ext] {
				t.Errorf("%s: no %s file was checked", when, ext)
			}
		}
	}
	base, _, stop := startServe(t, data)
	if code, _, _ := httpGet(t, base+"/acme"); code != http.StatusOK {
		t.Fatalf("GET /acme = %d", code)
	}
	check("while serving")
	if c := stop(); c != 0 {
		t.Errorf("serve exited %d", c)
	}
	check("after serving")
}

// /readyz's registry check runs at most every registryCheckEvery while it passes, and at once
// again after a failure.
func TestCachedCheck(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	calls := 0
	var fail error
	check := cachedCheck(func(context.Context) error { calls++; return fail }, 30*time.Second, func() time.Time { return now })
	ctx := context.Background()
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("%d checks within the interval, want 1", calls)
	}
	now = now.Add(30 * time.Second)
	fail = os.ErrInvalid
	if err := check(ctx); err == nil || calls != 2 {
		t.Errorf("after the interval: %v, %d checks", err, calls)
	}
	if err := check(ctx); err == nil || calls != 3 {
		t.Errorf("after a failure: %v, %d checks, want a new check", err, calls)
	}
}
