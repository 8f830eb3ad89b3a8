package tenancy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/tenancy"
)

// crashingRegistry is the SQLite registry whose Create panics while crash is set: the process
// "dies" between making a new tenant's file and registering it.
type crashingRegistry struct {
	*tenancy.SQLiteRegistry
	crash atomic.Bool
}

type crash struct{ at string }

func (r *crashingRegistry) Create(ctx context.Context, t tenancy.Tenant, fromSpare bool) error {
	if r.crash.Load() {
		panic(crash{"register"})
	}
	return r.SQLiteRegistry.Create(ctx, t, fromSpare)
}

// provisionKinds are the ways a tenant is made: each is run with a crash in the middle.
var provisionKinds = []struct {
	name      string
	note      string // what the new business's notes hold
	provision func(ctx context.Context, m *tenancy.Manager, src string) (tenancy.Tenant, error)
}{
	{"From", "from the backup", func(ctx context.Context, m *tenancy.Manager, src string) (tenancy.Tenant, error) {
		return m.ProvisionFrom(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme", Timezone: "UTC"}, src, 1)
	}},
	{"SetUp", "owner", func(ctx context.Context, m *tenancy.Manager, _ string) (tenancy.Tenant, error) {
		return m.ProvisionWith(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme", Timezone: "UTC"},
			func(ctx context.Context, l *tenancy.Lease) error {
				_, err := l.DB.Write.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('owner')`)
				return err
			})
	}},
	{"Copy", "", func(ctx context.Context, m *tenancy.Manager, _ string) (tenancy.Tenant, error) {
		return m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme", Timezone: "UTC"})
	}},
}

// crashDuring runs fn, which is expected to panic with a crash (a simulated process death:
// deferred clean-ups that let go of locks run, as the kernel's would; error paths do not).
func crashDuring(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if _, ok := recover().(crash); !ok {
			t.Fatal("the operation did not reach the crash point")
		}
	}()
	fn()
}

// backupSource makes the database file a restore --into copies: a tenant "src" with one note.
func backupSource(t *testing.T, m *tenancy.Manager) (tenancy.Tenant, string) {
	t.Helper()
	src := tenanttest.MustProvision(t, m, "src")
	tenanttest.Exec(t, m, src, `INSERT INTO notes (body) VALUES ('from the backup')`)
	file := filepath.Join(t.TempDir(), "backup.db")
	tenanttest.Exec(t, m, src, `VACUUM INTO ?`, file)
	return src, file
}

// filesNotOf lists the files under dir/tenants that are not tenant keep's.
func filesNotOf(t *testing.T, dir, keep string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "tenants", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasPrefix(filepath.Base(p), keep) {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// A crash after a new tenant's file is made but before it is registered leaves no trace once
// the Manager is opened again: no file of the business under a tenant's name that nothing
// names (erasure would never find it), and the slug free.
func TestProvisionCrashBeforeRegistration(t *testing.T) {
	for _, kind := range provisionKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			e := tenanttest.NewEnv(t)
			migs := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
			reg := &crashingRegistry{SQLiteRegistry: e.Reg}
			var log syncBuffer
			m := openManager(t, reg, e.Dir, migs, &log)
			src, file := backupSource(t, m)
			reg.crash.Store(true)
			crashDuring(t, func() { _, _ = kind.provision(ctx, m, file) })
			reg.crash.Store(false)
			closeManager(t, m)

			m = openManager(t, reg, e.Dir, migs, &log)
			if left := filesNotOf(t, e.Dir, src.ID); len(left) > 0 {
				t.Errorf("files left by the crashed sign-up: %v", left)
			}
			if _, err := e.Reg.BySlug(ctx, "acme"); !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("the crashed sign-up's slug: %v, want not found", err)
			}
			if _, err := kind.provision(ctx, m, file); err != nil {
				t.Errorf("sign up again after the crash: %v", err)
			}
		})
	}
}

// A crash after the registration but before the file got its final name is finished by the
// next start-up: the business opens, with what its sign-up put in it.
func TestProvisionCrashAfterRegistration(t *testing.T) {
	for _, kind := range provisionKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			e := tenanttest.NewEnv(t)
			migs := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
			var log syncBuffer
			m := openManager(t, e.Reg, e.Dir, migs, &log)
			src, file := backupSource(t, m)
			tenancy.SetFaultHook(m, func(point string) error {
				if point == "provision.place" {
					panic(crash{point})
				}
				return nil
			})
			crashDuring(t, func() { _, _ = kind.provision(ctx, m, file) })
			tenancy.SetFaultHook(m, nil)
			closeManager(t, m)

			m = openManager(t, e.Reg, e.Dir, migs, &log)
			acme, err := e.Reg.BySlug(ctx, "acme")
			if err != nil {
				t.Fatalf("the registered sign-up: %v", err)
			}
			var want []string
			if kind.note != "" {
				want = []string{kind.note}
			}
			if got := tenanttest.Notes(t, m, acme); !slices.Equal(got, want) {
				t.Errorf("notes of the finished sign-up: %v, want %v", got, want)
			}
			for _, f := range filesNotOf(t, e.Dir, src.ID) {
				if strings.Contains(f, ".provision-") {
					t.Errorf("scratch file left: %s", f)
				}
			}
			if !strings.Contains(log.String(), "sign-up was interrupted after its registration") {
				t.Errorf("the repair was not logged; log:\n%s", log.String())
			}
		})
	}
}

// A tenant database that no registry row names (left by a crash of an older release) is set
// aside at start-up, kept for the operator under a name erasure finds, and logged; a young one
// (perhaps another process's sign-up in progress) and spares are left alone.
func TestStartUpSetsAsideUnregisteredDatabase(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	migs := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
	var log syncBuffer
	m := openManager(t, e.Reg, e.Dir, migs, &log)
	src, file := backupSource(t, m)
	closeManager(t, m)

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string, age time.Duration) string {
		p := filepath.Join(e.Dir, "tenants", id[:2], id+".db")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orphan := put("orphanorphanorphanorphan22", time.Hour)
	young := put("youngyoungyoungyoungyoung2", 0)
	if err := e.Reg.AddSpare(ctx, "spare2spare2spare2spare2sp", 1); err != nil {
		t.Fatal(err)
	}
	spare := put("spare2spare2spare2spare2sp", time.Hour)

	m = openManager(t, e.Reg, e.Dir, migs, &log)
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unregistered database still at its tenant path: %v", err)
	}
	kept, _ := filepath.Glob(orphan + ".orphan-*")
	if len(kept) != 1 {
		t.Errorf("set-aside copies %v, want one", kept)
	}
	for _, p := range []string{young, spare} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it left alone", filepath.Base(p), err)
		}
	}
	if !strings.Contains(log.String(), "no registry row names") {
		t.Errorf("setting it aside was not logged; log:\n%s", log.String())
	}
	if got := tenanttest.Notes(t, m, src); !slices.Equal(got, []string{"from the backup"}) {
		t.Errorf("registered tenant's notes: %v", got)
	}
}
