package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/tenancy"
)

// flakyRegistry is the SQLite registry whose SetSchema fails from its failFrom-th call on
// (0: never), as a registry on a full disk or behind a lost connection would.
type flakyRegistry struct {
	*tenancy.SQLiteRegistry
	failFrom int64
	calls    atomic.Int64
}

var errRegistryDown = errors.New("registry unavailable")

func (r *flakyRegistry) SetSchema(ctx context.Context, id string, version int, status, lastErr string) error {
	if n := r.calls.Add(1); r.failFrom > 0 && n >= r.failFrom {
		return errRegistryDown
	}
	return r.SQLiteRegistry.SetSchema(ctx, id, version, status, lastErr)
}

// syncBuffer is a log destination that tests read while the Manager may still write to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func openManager(t *testing.T, reg tenancy.Registry, dir string, ms []migrations.Migration, log io.Writer) *tenancy.Manager {
	t.Helper()
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Migrations: ms,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeManager(t, m) })
	return m
}

func closeManager(t *testing.T, m *tenancy.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Error(err)
	}
}

// snapshotScratch copies tenant tn's database, as a restore's checked download would be, into
// a scratch file beside it.
func snapshotScratch(t *testing.T, m *tenancy.Manager, tn tenancy.Tenant) *tenancy.Scratch {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "copy.db")
	tenanttest.Exec(t, m, tn, `VACUUM INTO ?`, tmp)
	path, err := m.Path(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tenancy.NewScratch(path + ".restore-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove)
	data, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	return s
}

// oneTwoDownload provisions acme with the notes "one" and "two", and returns its manager, the
// tenant and a download of its database taken between the two (holding only "one").
func oneTwoDownload(t *testing.T) (*tenancy.Manager, tenancy.Tenant, *tenancy.Scratch) {
	t.Helper()
	_, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('one')`)
	download := snapshotScratch(t, m, acme)
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('two')`)
	return m, acme, download
}

// A restore's outcome is what the operator is told: when the registry fails, either the old
// database is still the tenant's and the error says nothing changed, or the restored one is and
// the restore reports success (with a warning), and in both cases the tenant opens afterwards.
func TestReplaceFileRegistryFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		migrated  bool  // the tenant moved to schema version 2 after the copy (at version 1)
		failFrom  int64 // the SetSchema call that fails first
		wantErr   bool
		wantNotes []string
	}{
		{"VersionLowered/FailBeforeSwap", true, 1, true, []string{"one", "two"}},
		{"VersionLowered/FailAfterSwap", true, 2, false, []string{"one"}},
		{"SameVersion/FailAfterSwap", false, 1, false, []string{"one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := tenanttest.NewEnv(t)
			v1 := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)
			v2 := tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `CREATE TABLE extra (x)`)
			var log syncBuffer
			old := openManager(t, e.Reg, e.Dir, v1, &log)
			acme := tenanttest.MustProvision(t, old, "acme")
			tenanttest.Exec(t, old, acme, `INSERT INTO notes (body) VALUES ('one')`)
			download := snapshotScratch(t, old, acme)
			closeManager(t, old)

			reg := &flakyRegistry{SQLiteRegistry: e.Reg}
			ms := v1
			if tc.migrated {
				ms = v2
			}
			m := openManager(t, reg, e.Dir, ms, &log)
			tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('two')`) // migrates to v2 first
			reg.calls.Store(0)
			reg.failFrom = tc.failFrom

			safety, err := m.ReplaceFile(ctx, acme, download, 1)
			reg.failFrom = 0
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "nothing was changed") || !errors.Is(err, errRegistryDown) {
					t.Fatalf("ReplaceFile = %q, %v; want an error that says nothing changed", safety, err)
				}
			} else {
				if err != nil || safety == "" {
					t.Fatalf("ReplaceFile = %q, %v; want the restore reported done", safety, err)
				}
				if !strings.Contains(log.String(), "restore done, but recording its schema version failed") {
					t.Errorf("no warning logged for the failed follow-up step; log:\n%s", log.String())
				}
			}
			// The tenant opens (a file below the registry's record would be taken for a
			// truncated one) and holds what the outcome said.
			if got := tenanttest.Notes(t, m, acme); !slices.Equal(got, tc.wantNotes) {
				t.Errorf("notes after the restore: %v, want %v", got, tc.wantNotes)
			}
		})
	}
}

// A failure half way through setting the old files aside puts back what was moved: the tenant
// keeps its whole database, and the error says that nothing changed.
func TestReplaceFileFailsHalfWay(t *testing.T) {
	ctx := context.Background()
	m, acme, download := oneTwoDownload(t)

	injected := errors.New("disk error")
	tenancy.SetFaultHook(m, func(point string) error {
		if point == "restore.set-aside-wal" {
			return injected
		}
		return nil
	})
	_, err := m.ReplaceFile(ctx, acme, download, 1)
	tenancy.SetFaultHook(m, nil)
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("ReplaceFile: %v; want the injected error, saying nothing changed", err)
	}
	if got := tenanttest.Notes(t, m, acme); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("notes after the failed restore: %v, want [one two]", got)
	}
}

// The restored file keeps its scratch name locked until it is the tenant's database: start-up
// clean-up (RemoveAbandoned, of a CLI command starting beside the server) takes an unlocked
// scratch file for one a crash left, and one that looked while the old files were being set
// aside removed the download, and the restore failed.
func TestReplaceFileKeepsTheDownloadLocked(t *testing.T) {
	ctx := context.Background()
	m, acme, download := oneTwoDownload(t)
	path, err := m.Path(acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	var looked atomic.Bool
	tenancy.SetFaultHook(m, func(point string) error {
		if point == "restore.put-in-place" {
			looked.Store(true)
			if n, err := tenancy.RemoveAbandoned(filepath.Join(filepath.Dir(path), "*.db.restore-*")); err != nil || n != 0 {
				t.Errorf("start-up clean-up removed %d scratch files (%v) during the restore", n, err)
			}
		}
		return nil
	})
	_, err = m.ReplaceFile(ctx, acme, download, 1)
	tenancy.SetFaultHook(m, nil)
	if err != nil {
		t.Fatalf("ReplaceFile: %v", err)
	}
	if !looked.Load() {
		t.Fatal("the restore never reached the point of putting its file in place")
	}
	if got := tenanttest.Notes(t, m, acme); !slices.Equal(got, []string{"one"}) {
		t.Errorf("notes after the restore: %v, want [one]", got)
	}
}
