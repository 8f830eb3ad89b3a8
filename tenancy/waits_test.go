package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// waitFor returns what done delivers, or fails the test when nothing comes within a minute: a
// wait that is meant to be bounded hung.
func waitFor[T any](t *testing.T, what string, done <-chan T) T {
	t.Helper()
	select {
	case v := <-done:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("%s still waiting after a minute", what)
		panic("unreachable")
	}
}

// Deleting a tenant whose lease is never given back (a caller deleting under its own lease did
// so, and hung with the tenant's every other caller behind it) fails after a bounded wait: the
// context's deadline, or Config.ExclusiveWait when the context has none. The tenant is intact
// afterwards and serves again.
func TestExclusiveWaitIsBounded(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{ExclusiveWait: 200 * time.Millisecond})
	tn := tenanttest.MustProvision(t, m, "held")
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"CtxDeadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}},
		{"NoDeadline", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Delete(ctx, tn.ID) }()
			err := waitFor(t, "Delete under a held lease", done)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Delete under a held lease: %v, want a deadline error", err)
			}
			// Nothing was deleted, and the tenant serves again at once.
			if _, _, err := m.Resolve(context.Background(), "held"); err != nil {
				t.Errorf("resolve after the refused delete: %v", err)
			}
			actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer acancel()
			l2, err := m.Acquire(actx, tn)
			if err != nil {
				t.Fatalf("acquire after the refused delete: %v", err)
			}
			l2.Release()
		})
	}
	l.Release()
	if err := m.Delete(context.Background(), tn.ID); err != nil {
		t.Errorf("delete once the lease is back: %v", err)
	}
}

// A request or a job waiting to enter a tenant that an exclusive operation holds waits at most
// Config.AcquireWait (Visit, ForEachOpen and the middleware all wait this way).
func TestVisitWaitIsBounded(t *testing.T) {
	e := tenanttest.NewEnv(t)
	m := e.Manager(t, nil, tenancy.Config{AcquireWait: 100 * time.Millisecond, ExclusiveWait: time.Hour})
	tn := tenanttest.MustProvision(t, m, "stuck")
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	// A delete waits for the lease, and new leases wait for the delete.
	ctx, cancel := context.WithCancel(context.Background())
	deleted := make(chan error, 1)
	go func() { deleted <- m.Delete(ctx, tn.ID) }()
	defer func() {
		cancel()
		if err := <-deleted; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("delete: %v; want it cancelled", err)
		}
		l.Release()
	}()
	for m.Leases(tn.ID) != 1 || func() bool { // the delete has closed the gate: a visit must wait
		c, cc := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cc()
		ll, err := m.Acquire(c, tn)
		if err == nil {
			ll.Release()
		}
		return err == nil
	}() {
	}
	done := make(chan error, 1)
	go func() { done <- m.Visit(context.Background(), tn, func(*tenancy.Lease) error { return nil }) }()
	if err := waitFor(t, "Visit of a tenant being deleted", done); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("visit: %v, want a deadline error", err)
	}
}

// ProvisionWith sets a tenant up before it exists: a failing setup leaves no registry row, no
// file and no held slug, from a spare or from the template; a good one is registered with what
// setup wrote.
func TestProvisionWith(t *testing.T) {
	synctest.Test(t, testProvisionWith)
}

func testProvisionWith(t *testing.T) {
	for _, spares := range []int{0, 1} {
		e := tenanttest.NewEnv(t)
		m := e.Manager(t, nil, tenancy.Config{Spares: spares})
		ctx := context.Background()
		if spares > 0 {
			synctest.Wait() // the filler makes one in the background
			if m.SparesReady() == 0 {
				t.Fatal("no spare once the filler was idle")
			}
		}
		files := func() (n int) {
			if err := filepath.WalkDir(filepath.Join(e.Dir, "tenants"), func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					n++
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := files()
		bad := errors.New("owner refused")
		_, err := m.ProvisionWith(ctx, tenancy.NewTenant{Slug: "new-biz", Name: "New", Timezone: "UTC"},
			func(ctx context.Context, l *tenancy.Lease) error {
				if _, err := l.DB.Write.ExecContext(ctx, `CREATE TABLE owner (email TEXT)`); err != nil {
					return err
				}
				return bad
			})
		if !errors.Is(err, bad) {
			t.Fatalf("spares %d: %v, want the setup's error", spares, err)
		}
		if list, err := e.Reg.List(ctx); err != nil || len(list) != 0 {
			t.Errorf("spares %d: %d tenants registered after a failed setup (%v)", spares, len(list), err)
		}
		if spares == 0 && files() != before {
			t.Errorf("%d files under tenants/ after a failed setup, %d before", files(), before)
		}
		if known, _ := e.Reg.Spares(ctx); spares > 0 {
			for id := range known {
				p, _ := m.Path(id)
				if _, err := os.Stat(p); err != nil {
					t.Errorf("spare %s listed without its file: %v", id, err)
				}
			}
		}
		tn, err := m.ProvisionWith(ctx, tenancy.NewTenant{Slug: "new-biz", Name: "New", Timezone: "UTC"},
			func(ctx context.Context, l *tenancy.Lease) error {
				_, err := l.DB.Write.ExecContext(ctx, `CREATE TABLE owner (email TEXT)`)
				return err
			})
		if err != nil {
			t.Fatalf("spares %d: the slug is not free again: %v", spares, err)
		}
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := l.DB.Read.QueryRowContext(ctx, `SELECT count(*) FROM owner`).Scan(&n); err != nil {
			t.Errorf("spares %d: setup's table missing: %v", spares, err)
		}
		l.Release()
	}
}

// A process that dies while ProvisionWith sets a business up (the owner written, the business
// not yet registered) leaves no copy of what setup wrote once the data directory is opened
// again: the half-made file has no registry row, so nothing else (deletion, the slug) would
// ever find it. The child process below is this test binary, exiting in the middle of setup.
func TestProvisionWithCrashLeavesNothing(t *testing.T) {
	if dir := os.Getenv("RESERVA_TEST_CRASH_IN_SETUP"); dir != "" {
		reg, err := tenancy.OpenRegistry(context.Background(), filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
		if err != nil {
			t.Fatal(err)
		}
		m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = m.ProvisionWith(context.Background(), tenancy.NewTenant{Slug: "half-made", Name: "Half", Timezone: "UTC"},
			func(ctx context.Context, l *tenancy.Lease) error {
				if _, err := l.DB.Write.ExecContext(ctx, `CREATE TABLE owner (email TEXT);
					INSERT INTO owner VALUES ('victim@crash.example')`); err != nil {
					t.Fatal(err)
				}
				os.Exit(3) // the process dies here, as with kill -9
				return nil
			})
		t.Fatal("setup returned")
	}
	dir := t.TempDir()
	cmd := osexec.Command(os.Args[0], "-test.run=^TestProvisionWithCrashLeavesNothing$")
	cmd.Env = append(os.Environ(), "RESERVA_TEST_CRASH_IN_SETUP="+dir)
	out, err := cmd.CombinedOutput()
	if ee := (*osexec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// Start-up over the same directory.
	reg, err := tenancy.OpenRegistry(context.Background(), filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Close() }()
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("victim@crash.example")) {
			t.Errorf("%s still holds what the killed setup wrote", p)
		}
		return nil
	})
	if walkErr != nil {
		t.Fatal(walkErr)
	}
	if _, err := m.ProvisionWith(context.Background(), tenancy.NewTenant{Slug: "half-made", Name: "Half", Timezone: "UTC"}, nil); err != nil {
		t.Errorf("the slug after the crash: %v", err)
	}
}
