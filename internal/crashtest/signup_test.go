package crashtest

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Kill -9 `reserva tenants create` at random moments of its run, then start the server: every
// business the registry names serves (none is left without its file), every acknowledged one is
// among them, no scratch file of a sign-up is left, and no file in the data directory holds the
// owner of a sign-up that was never registered.
func TestKillDuringSignUp(t *testing.T) {
	rounds := envInt("RESERVA_CRASH_SIGNUPS", 6)
	dir := t.TempDir()
	bin := filepath.Join(dir, "reserva")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/reserva/reserva").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	create := func(i int) *exec.Cmd {
		return exec.Command(bin, "tenants", "create", "--data", data, "--slug", fmt.Sprintf("kill-%d", i), "--name", "Kill",
			"--timezone", "UTC", "--owner-email", fmt.Sprintf("owner-%d@kill.example", i))
	}
	// The first two run whole: the first makes the registry and the template, the second says
	// how long a sign-up takes, so that the kills fall within one.
	var took time.Duration
	acked := map[string]bool{}
	for _, i := range []int{0, rounds + 1} {
		begin := time.Now()
		if out, err := create(i).CombinedOutput(); err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
		took = time.Since(begin)
		acked[fmt.Sprintf("kill-%d", i)] = true
	}
	for i := 1; i <= rounds; i++ {
		cmd := create(i)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := time.AfterFunc(time.Duration(rand.Int64N(int64(took)+1)), func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		if cmd.Wait() == nil {
			acked[fmt.Sprintf("kill-%d", i)] = true
		}
		kill.Stop()
	}

	s := start(t, bin, data) // start-up repairs what the kills left
	reg, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "registry.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Close() }()
	rows, err := reg.Query(`SELECT slug FROM tenants`)
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			t.Fatal(err)
		}
		registered[slug] = true
	}
	_ = rows.Close()
	for slug := range acked {
		if !registered[slug] {
			t.Errorf("acknowledged sign-up %s is not registered", slug)
		}
	}
	for slug := range registered {
		res, err := http.Get(s.url + "/" + slug)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("registered business %s: %d, want 200\n%s", slug, res.StatusCode, s.output())
		}
	}
	scratch, _ := filepath.Glob(filepath.Join(data, "tenants", "*", "*.provision-*"))
	for _, p := range scratch {
		if !lockedByOther(p) { // locked: the server making a spare right now
			t.Errorf("sign-up scratch file left after start-up: %s", p)
		}
	}
	for i := 1; i <= rounds; i++ {
		if registered[fmt.Sprintf("kill-%d", i)] {
			continue
		}
		owner := []byte(fmt.Sprintf("owner-%d@kill.example", i))
		err := filepath.WalkDir(filepath.Join(data, "tenants"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, owner) {
				t.Errorf("%s holds the owner of a sign-up that was never registered", strings.TrimPrefix(p, data))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d sign-ups killed at random within %s, %d registered all the same", rounds, took, len(registered)-2)
}

// lockedByOther reports whether another process holds the scratch file at path locked (in
// use); a file gone meanwhile counts as in use.
func lockedByOther(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer func() { _ = f.Close() }() // only opened to try the lock
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
}
