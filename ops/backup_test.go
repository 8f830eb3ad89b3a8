package ops_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

func TestBackupAndRestore(t *testing.T) {
	ctx := context.Background()
	e, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('one'), ('two')`)

	b, err := ops.New(m, e.Blobs).Backup(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	if b.SizeBytes == 0 || len(b.SHA256) != 64 || b.VerifiedAt.IsZero() || b.SchemaVersion != 1 {
		t.Errorf("backup %+v", b)
	}
	tenanttest.Exec(t, m, acme, `DELETE FROM notes WHERE body = 'one'`)
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('three')`)

	got, safety, err := ops.New(m, e.Blobs).Restore(ctx, acme, "")
	if err != nil || got.ID != b.ID {
		t.Fatalf("restore: %+v %v", got, err)
	}
	if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"one", "two"}) {
		t.Errorf("after restore: %v, want the backed-up [one two]", n)
	}
	// The replaced database is kept aside, whole.
	db, err := sql.Open("sqlite3", "file:"+safety+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var kept string
	if err := db.QueryRow(`SELECT group_concat(body) FROM notes`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if kept != "two,three" {
		t.Errorf("safety copy holds %q, want two,three", kept)
	}

	t.Run("Into", func(t *testing.T) {
		copyT, err := ops.New(m, e.Blobs).RestoreInto(ctx, acme.ID, b.ID, tenancy.NewTenant{Slug: "acme-copy", Name: "Copy", Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		tenanttest.Exec(t, m, copyT, `INSERT INTO notes (body) VALUES ('only in the copy')`)
		if n := tenanttest.Notes(t, m, acme); len(n) != 2 {
			t.Errorf("source changed: %v", n)
		}
	})
	t.Run("ErrUnknownBackup", func(t *testing.T) {
		if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, "nope"); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("unknown backup: %v", err)
		}
	})
}

// A damaged copy is refused before the tenant is touched.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	ctx := context.Background()
	e, m, blobDir := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('keep me')`)
	b, err := ops.New(m, e.Blobs).Backup(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(blobDir, filepath.FromSlash(b.Key))
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('newer')`)
	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, b.ID); err == nil {
		t.Fatal("a damaged backup was restored")
	}
	if n := tenanttest.Notes(t, m, acme); !slices.Equal(n, []string{"keep me", "newer"}) {
		t.Errorf("tenant changed by a failed restore: %v", n)
	}
}

// Writers racing a restore see the old database or the restored one, never a mix: every
// transaction's pair of rows is entirely there or entirely not.
func TestRestoreRacingWrites(t *testing.T) {
	ctx := context.Background()
	e, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('base-a'), ('base-b')`)
	if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int32
	wrote := make(chan struct{}, 1) // a write committed since the last look
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				l, err := m.Acquire(ctx, acme)
				if err != nil {
					t.Error(err)
					return
				}
				tx, err := l.DB.Write.Begin()
				if err == nil {
					if _, err := tx.Exec(`INSERT INTO notes (body) VALUES (?), (?)`, fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i)); err != nil {
						t.Fatal(err)
					}
					err = tx.Commit()
				}
				l.Release()
				if err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
				select {
				case wrote <- struct{}{}:
				default:
				}
			}
		})
	}
	// The restore starts once the writers are going, and they stop only after some of their
	// writes reached the restored database.
	timeout := time.After(10 * time.Second)
	waitWrites := func(n int32) {
		for writes.Load() < n {
			select {
			case <-wrote:
			case <-timeout:
				stop.Store(true)
				wg.Wait()
				t.Fatalf("%d writes, waited for %d", writes.Load(), n)
			}
		}
	}
	waitWrites(3)
	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, ""); err != nil {
		t.Fatal(err)
	}
	waitWrites(writes.Load() + 3)
	stop.Store(true)
	wg.Wait()
	n := tenanttest.Notes(t, m, acme)
	if !slices.Contains(n, "base-a") || !slices.Contains(n, "base-b") {
		t.Fatalf("backed-up rows missing: %v", n)
	}
	for _, body := range n {
		if pair, ok := strings.CutSuffix(body, "-a"); ok && !slices.Contains(n, pair+"-b") {
			t.Errorf("half a transaction: %s without its pair", body)
		}
	}
	if writes.Load() == 0 {
		t.Error("no writes raced the restore")
	}
}

func TestPruneBackups(t *testing.T) {
	ctx := context.Background()
	var now atomic.Int64
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	now.Store(start.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e, m, _ := tenanttest.BackupEnv(t, clock)
	acme := tenanttest.MustProvision(t, m, "acme")
	// Two backups a day for 60 days.
	for d := range 60 {
		for h := range 2 {
			now.Store(start.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour).UnixNano())
			if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
				t.Fatal(err)
			}
		}
	}
	deleted, err := ops.New(m, e.Blobs).PruneBackups(ctx, acme.ID, 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := m.Registry().Backups(ctx, acme.ID)
	// 7 daily (the last 7 days) plus weekly ones for the 4 newest weeks not already kept: the
	// newest week's and the previous week's newest backups are among the 7 days.
	if len(left)+deleted != 120 || len(left) < 7 || len(left) > 11 {
		t.Errorf("kept %d, deleted %d", len(left), deleted)
	}
	if newest := left[0].CreatedAt; !newest.Equal(start.Add(59*24*time.Hour + time.Hour)) {
		t.Errorf("newest kept %s", newest)
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	e, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES ('it''s mine'), (NULL)`)
	tenanttest.Exec(t, m, acme, `INSERT INTO sessions VALUES ('secret-token', x'00', 1)`)
	tenanttest.Exec(t, m, acme, `CREATE TABLE users (id INTEGER PRIMARY KEY, "e""mail" TEXT, password_hash TEXT, avatar BLOB, score REAL)`)
	tenanttest.Exec(t, m, acme, `INSERT INTO users VALUES (7, 'o''brien@example.com', 'argon2id-secret', x'CAFE', 0.1)`)
	dir := t.TempDir()
	files, err := ops.New(m, e.Blobs).Export(ctx, acme, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "dump.sql") || !slices.Contains(files, "notes.json") || slices.Contains(files, "sessions.json") {
		t.Errorf("files %v", files)
	}
	if err := ops.SyncExport(dir, files); err != nil {
		t.Errorf("SyncExport: %v", err)
	}
	if err := ops.SyncExport(dir, append(slices.Clone(files), "gone.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncExport of a missing file: %v, want not exist", err)
	}
	var rows []map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, "notes.json"))
	if err := json.Unmarshal(data, &rows); err != nil || len(rows) != 2 || rows[0]["body"] != "it's mine" {
		t.Errorf("notes.json: %s %v", data, err)
	}
	// Values keep their types; blobs are hex (JSON has no bytes); password hashes are redacted.
	data, _ = os.ReadFile(filepath.Join(dir, "users.json"))
	want := map[string]any{"id": 7.0, `e"mail`: "o'brien@example.com", "password_hash": "[redacted]", "avatar": "CAFE", "score": 0.1}
	var users []map[string]any
	if err := json.Unmarshal(data, &users); err != nil || len(users) != 1 || !maps.Equal(users[0], want) {
		t.Errorf("users.json: %s %v", data, err)
	}
	dump, _ := os.ReadFile(filepath.Join(dir, "dump.sql"))
	for _, secret := range []string{"secret-token", "argon2id-secret"} {
		if strings.Contains(string(dump), secret) {
			t.Errorf("the dump contains %q", secret)
		}
	}
	// The dump recreates the data in an empty database.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "re.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM notes WHERE body = 'it''s mine' OR body IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("re-imported %d notes", n)
	}
	var avatar []byte
	var score float64
	if err := db.QueryRow(`SELECT avatar, score FROM users WHERE "e""mail" = 'o''brien@example.com'`).Scan(&avatar, &score); err != nil ||
		string(avatar) != "\xca\xfe" || score != 0.1 {
		t.Errorf("re-imported user: %x %v %v", avatar, score, err)
	}
}

// Erasure leaves no file, blob or backup of the tenant.
func TestDeleteErasesBackups(t *testing.T) {
	ctx := context.Background()
	e, m, blobDir := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	keep := tenanttest.MustProvision(t, m, "keep")
	for range 2 {
		if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, ""); err != nil { // leaves a safety copy
		t.Fatal(err)
	}
	if _, err := ops.New(m, e.Blobs).Backup(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	path, _ := m.Path(acme.ID)
	if left, _ := filepath.Glob(path + "*"); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(blobDir, acme.ID, "*")); len(left) != 0 {
		t.Errorf("blobs left: %v", left)
	}
	if b, err := m.Registry().Backups(ctx, acme.ID); err != nil || len(b) != 0 {
		t.Errorf("backup records left: %v %v", b, err)
	}
	if b, _ := m.Registry().Backups(ctx, keep.ID); len(b) != 1 {
		t.Errorf("another tenant's backups: %d", len(b))
	}
}

// A business made from another's backup (restore --into) does not take the source's sessions,
// API tokens, reset links, customers' manage links or queued mail with it.
func TestRestoreIntoLeavesSecretsBehind(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	e.Blobs = tenanttest.OpenBlobs(t, filepath.Join(e.Dir, "blobs"))
	m := e.Manager(t, nil, tenancy.Config{EraseElsewhere: ops.EraseBlobs(e.Blobs)})
	acme := tenanttest.MustProvision(t, m, "acme")
	tenanttest.Exec(t, m, acme, `PRAGMA foreign_keys = OFF`)
	for _, q := range []string{
		`INSERT INTO sessions VALUES ('session-token', x'00', 9e9)`,
		`INSERT INTO api_tokens (name, token_hash, role, created_at) VALUES ('ci', x'02', 'owner', 0)`,
		`INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (x'03', 1, 0, 9999999999)`,
		`INSERT INTO booking_tokens VALUES (x'01', 1, 0)`,
		`INSERT INTO outbox (kind, to_addr, subject, body, created_at, next_attempt_at) VALUES ('booking_created', 'a@example.com', 's', 'b', 0, 0)`,
	} {
		tenanttest.Exec(t, m, acme, q)
	}
	tenanttest.Exec(t, m, acme, `PRAGMA foreign_keys = ON`)
	if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
		t.Fatal(err)
	}
	cp, err := ops.New(m, e.Blobs).RestoreInto(ctx, acme.ID, "", tenancy.NewTenant{Slug: "acme-copy", Name: "Copy", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	count := func(tn tenancy.Tenant, table string) int {
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		var n int
		if err := l.DB.Read.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range []string{"sessions", "api_tokens", "password_resets", "booking_tokens", "outbox"} {
		if n := count(cp, table); n != 0 {
			t.Errorf("the copy has %d rows of %s", n, table)
		}
		if n := count(acme, table); n != 1 {
			t.Errorf("the source has %d rows of %s, want 1", n, table)
		}
	}
}

// A restore, in place or into a new business, leaves beside the databases only what it says it
// keeps (the replaced file as a safety copy): not the -wal and -shm that checking the download
// made, named after the tenant and left for the next start-up to find.
func TestRestoreLeavesNoScratch(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	e.Blobs = tenanttest.OpenBlobs(t, filepath.Join(e.Dir, "blobs"))
	m := e.Manager(t, nil, tenancy.Config{EraseElsewhere: ops.EraseBlobs(e.Blobs)})
	acme := tenanttest.MustProvision(t, m, "acme")
	if _, err := ops.New(m, e.Blobs).Backup(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.New(m, e.Blobs).RestoreInto(ctx, acme.ID, "", tenancy.NewTenant{Slug: "acme-copy", Name: "Copy", Timezone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(e.Dir, "tenants", "*", "*.restore-*"))
	left2, _ := filepath.Glob(filepath.Join(e.Dir, "tenants", "*", "*.provision-*"))
	if left = append(left, left2...); len(left) > 0 {
		t.Errorf("scratch files left after restores: %v", left)
	}
}

// A replicated business's database holds the replicator's bookkeeping tables
// (_litestream_seq, _litestream_lock): not the business's data, so not in its export.
func TestExportLeavesOutReplicaTables(t *testing.T) {
	ctx := context.Background()
	e, m, _ := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	// What Litestream creates when it attaches.
	tenanttest.Exec(t, m, acme, `CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)`)
	tenanttest.Exec(t, m, acme, `CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER)`)
	tenanttest.Exec(t, m, acme, `INSERT INTO _litestream_seq VALUES (1, 42)`)
	dir := t.TempDir()
	files, err := ops.New(m, e.Blobs).Export(ctx, acme, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(f, "_litestream") {
			t.Errorf("the export has %s", f)
		}
	}
	dump, _ := os.ReadFile(filepath.Join(dir, "dump.sql"))
	if strings.Contains(string(dump), "_litestream") {
		t.Errorf("the dump names the replicator's tables:\n%s", dump)
	}
}
