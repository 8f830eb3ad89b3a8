package tenancy

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/reserva/reserva/domain"
)

// backupKey is where a backup lives in the blob store: under the tenant's id, so erasing the
// tenant removes it with the rest of its blobs.
func backupKey(tenantID, backupID string) string { return tenantID + "/backups/" + backupID + ".db.gz" }

// ErrNoBlobStore means backups were asked of a Manager that has no blob store configured.
var ErrNoBlobStore = errors.New("no blob store configured")

// Backup makes a consistent online copy of t's database (the backup API while requests go on),
// checks the copy with integrity_check, stores it gzip-compressed in the blob store and records
// it in the registry.
func (m *Manager) Backup(ctx context.Context, t Tenant) (Backup, error) {
	if m.cfg.Blobs == nil {
		return Backup{}, ErrNoBlobStore
	}
	// The whole backup under a lease, so the tenant cannot be deleted or restored under it.
	var b Backup
	err := m.Visit(ctx, t, func(l *Lease) (err error) {
		b, err = m.backup(ctx, t, l)
		return err
	})
	return b, err
}

func (m *Manager) backup(ctx context.Context, t Tenant, l *Lease) (Backup, error) {
	var err error
	b := Backup{ID: strings.ToLower(rand.Text()), TenantID: t.ID, CreatedAt: m.cfg.Now().UTC()}
	b.Key = backupKey(t.ID, b.ID)
	path, err := m.Path(t.ID)
	if err != nil {
		return Backup{}, err
	}
	// The snapshot is a full copy of the business: beside its database, named after it, so that
	// deleting the business finds it; one a killed backup left is removed first.
	if _, err := removeAbandoned(path + ".snapshot-*"); err != nil {
		m.cfg.Logger.ErrorContext(ctx, "remove leftover backup snapshots", "tenant", t.Slug, "err", err)
	}
	scratch, err := newScratch(path + ".snapshot-" + b.ID)
	if err != nil {
		return Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
	}
	defer scratch.Remove()
	snapshot := scratch.Name()

	// SQLite's online backup API, on one of the lease's read connections: it copies the pages of
	// one consistent snapshot while requests go on (the writer is never blocked, in WAL mode), and
	// the copy is opened inside the same connection, so no new connection is paid for.
	// Copy, check and compression run at the lowest priority, as an export does: backups are
	// bulk work beside live requests.
	if err = atLowPriority(func() (err error) {
		b.SchemaVersion, err = snapshotAndVerify(ctx, l.DB.Read, snapshot)
		return err
	}); err != nil {
		return Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
	}
	b.VerifiedAt = m.cfg.Now().UTC()

	f, err := os.Open(snapshot)
	if err != nil {
		return Backup{}, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go atLowPriority(func() error {
		gz := newGzip(pw)
		_, err := io.Copy(gz, f)
		err = errors.Join(err, gz.Close())
		gzips.Put(gz)
		pw.CloseWithError(err)
		return nil
	})
	sum := sha256.New()
	counter := &countingWriter{h: sum}
	if err := m.cfg.Blobs.Put(ctx, b.Key, io.TeeReader(pr, counter)); err != nil {
		pr.CloseWithError(err)
		return Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
	}
	b.SHA256, b.SizeBytes = hex.EncodeToString(sum.Sum(nil)), counter.n
	if err := m.reg.AddBackup(ctx, b); err != nil {
		return Backup{}, err
	}
	return b, nil
}

// gzips are compressors at the fastest level (SQLite pages compress well even so; the CPU is
// for requests), reused from one backup to the next: each new one allocates about a megabyte.
var gzips sync.Pool

func newGzip(w io.Writer) *gzip.Writer {
	if gz, ok := gzips.Get().(*gzip.Writer); ok {
		gz.Reset(w)
		return gz
	}
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return gz
}

type countingWriter struct {
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// snapshotAndVerify copies the database of pool into the new file at path with the backup API,
// then checks the copy (integrity_check, attached read-only to the same connection) and
// returns its schema version.
func snapshotAndVerify(ctx context.Context, pool *sql.DB, path string) (int, error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return fmt.Errorf("backup: unexpected driver connection %T", dc)
		}
		// The copy is a scratch file, checked and compressed right after: no journal, no fsync.
		return c.Raw().Backup("main", fileURL(path)+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	})
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	// immutable: the copy is a plain file nobody else has open (no WAL, no locks to take).
	if _, err := conn.ExecContext(ctx, `ATTACH ? AS snapshot`, fileURL(path)+"?mode=ro&immutable=1"); err != nil {
		return 0, fmt.Errorf("open the copy: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `DETACH snapshot`); err != nil {
			// A connection left with the copy attached must not serve again.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return checkDatabase(ctx, conn, "snapshot")
}

// verifyDatabase runs integrity_check on the database file at path (a restore's download).
func verifyDatabase(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", fileURL(path)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = checkDatabase(ctx, db, "main")
	return err
}

// checkDatabase runs integrity_check on the database schema (main, or an attached one) of q
// and returns its schema version.
func checkDatabase(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, schema string) (int, error) {
	var res string
	if err := q.QueryRowContext(ctx, `PRAGMA `+schema+`.integrity_check`).Scan(&res); err != nil {
		return 0, fmt.Errorf("check the copy: %w", err)
	}
	if res != "ok" {
		return 0, fmt.Errorf("%w: the copy failed its check: integrity_check: %s", ErrCorrupt, res)
	}
	var v int
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+schema+`.schema_migrations`).Scan(&v)
	return v, err
}

// ChangedSince reports whether t's database was written after at, by the files' modification
// times: a write appends to the WAL, a checkpoint writes the database file. A WAL that is empty
// was only created by a connection opening, which is no change.
func (m *Manager) ChangedSince(t Tenant, at time.Time) (bool, error) {
	path, err := m.Path(t.ID)
	if err != nil {
		return false, err
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if fi.ModTime().After(at) && fi.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Restore replaces t's database with backup backupID (its newest backup when empty). The copy is
// downloaded, checked against its hash and with integrity_check before anything changes; then,
// with requests to t held at its lock (no request ever sees half a restore), the current files
// are renamed aside as a safety copy and the backup is renamed into place. The tenant migrates
// lazily if the backup's schema is older.
func (m *Manager) Restore(ctx context.Context, t Tenant, backupID string) (Backup, string, error) {
	b, download, err := m.fetchBackup(ctx, t.ID, backupID)
	if err != nil {
		return Backup{}, "", err
	}
	defer download.Remove()
	tmp := download.Name()
	path, err := m.Path(t.ID)
	if err != nil {
		return Backup{}, "", err
	}
	safety := fmt.Sprintf("%s.replaced-%s-%s", path, m.cfg.Now().UTC().Format("20060102T150405Z"), strings.ToLower(rand.Text()[:6]))
	err = m.Exclusive(ctx, t.ID, func() error {
		download.File.Close() // our descriptor must not outlive the rename: the file becomes the database
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, safety+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Rename(safety, path) // put the original back
			return err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return err
		}
		// Still under the tenant's lock: no request can migrate it before the registry knows.
		m.mu.Lock()
		delete(m.faulted, t.ID) // a good file again
		m.mu.Unlock()
		return m.reg.SetSchema(ctx, t.ID, b.SchemaVersion, MigrationOK, "")
	})
	if err != nil {
		return Backup{}, "", fmt.Errorf("restore %s: %w", t.Slug, err)
	}
	m.cache.invalidate()
	return b, safety, nil
}

// RestoreInto makes a new tenant n from backup backupID of tenant sourceID (its newest when
// empty), leaving the source alone. The copy keeps the business's data but none of the
// source's ways in or out (see copySecrets): its users sign in again with their passwords.
func (m *Manager) RestoreInto(ctx context.Context, sourceID, backupID string, n NewTenant) (Tenant, error) {
	n.Name = strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return Tenant{}, err
	}
	b, download, err := m.fetchBackup(ctx, sourceID, backupID)
	if err != nil {
		return Tenant{}, err
	}
	defer download.Remove()
	tmp := download.Name()
	if err := dropSecrets(ctx, tmp); err != nil {
		return Tenant{}, fmt.Errorf("restore into %s: %w", n.Slug, err)
	}
	t := Tenant{ID: newID(), Slug: n.Slug, Name: n.Name, Timezone: n.Timezone, Status: "active",
		SchemaVersion: b.SchemaVersion, MigrationStatus: MigrationOK, CreatedAt: m.cfg.Now().UTC()}
	path, err := m.Path(t.ID)
	if err != nil {
		return Tenant{}, err
	}
	if err := copyFileDurably(tmp, path); err != nil {
		return Tenant{}, err
	}
	if err := m.reg.Create(ctx, t, false); err != nil {
		os.Remove(path)
		return Tenant{}, err
	}
	m.cache.invalidate()
	return t, nil
}

// copySecrets are the tables a copy of a business (restore --into) starts without, as the
// domain names them.
var copySecrets = domain.CopyDropTables()

// dropSecrets empties the copySecrets tables of the database file at path (those it has), with
// secure_delete so that the rows do not linger in free pages.
func dropSecrets(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", fileURL(path)+"?mode=rw&_pragma=busy_timeout(10000)&_pragma=journal_mode(delete)&_pragma=secure_delete(1)&_pragma=foreign_keys(0)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return withTx(ctx, db, func(tx *sql.Tx) error {
		for _, table := range copySecrets {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				continue // a backup from before the table existed
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+ident(table)); err != nil {
				return fmt.Errorf("empty %s: %w", table, err)
			}
		}
		return nil
	})
}

// fetchBackup downloads and checks a backup of tenant tenantID into a scratch file beside the
// tenant's database (same file system, so it can be renamed into place; named after the
// tenant, so erasure finds it). The caller removes it.
func (m *Manager) fetchBackup(ctx context.Context, tenantID, backupID string) (Backup, *scratch, error) {
	if m.cfg.Blobs == nil {
		return Backup{}, nil, ErrNoBlobStore
	}
	list, err := m.reg.Backups(ctx, tenantID)
	if err != nil {
		return Backup{}, nil, err
	}
	var b Backup
	for _, c := range list {
		if c.ID == backupID || backupID == "" {
			b = c
			break
		}
	}
	if b.ID == "" {
		return Backup{}, nil, fmt.Errorf("backup %q of this tenant: %w", backupID, ErrNotFound)
	}
	path, err := m.Path(tenantID)
	if err != nil {
		return Backup{}, nil, err
	}
	out, err := newScratch(path + ".restore-" + strings.ToLower(rand.Text()[:10]))
	if err != nil {
		return Backup{}, nil, err
	}
	tmp := out.Name()
	fail := func(err error) (Backup, *scratch, error) {
		out.Remove()
		return Backup{}, nil, fmt.Errorf("restore backup %s: %w", b.ID, err)
	}
	r, err := m.cfg.Blobs.Get(ctx, b.Key)
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	sum := sha256.New()
	gz, err := gzip.NewReader(io.TeeReader(r, sum))
	if err != nil {
		return fail(err)
	}
	if _, err := io.Copy(out, gz); err != nil {
		return fail(err)
	}
	io.Copy(io.Discard, r) // the hash covers the whole object
	if got := hex.EncodeToString(sum.Sum(nil)); got != b.SHA256 {
		return fail(fmt.Errorf("the stored copy is damaged (sha256 %s, recorded %s)", got, b.SHA256))
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := verifyDatabase(ctx, tmp); err != nil {
		return fail(err)
	}
	return b, out, nil
}

// PruneBackups keeps, of tenant tenantID's backups, the newest of each of the last `daily` days
// and of each of the last `weekly` ISO weeks, and deletes the rest. It returns how many it deleted.
func (m *Manager) PruneBackups(ctx context.Context, tenantID string, daily, weekly int) (int, error) {
	list, err := m.reg.Backups(ctx, tenantID) // newest first
	if err != nil {
		return 0, err
	}
	keep := map[string]bool{}
	days, weeks := map[string]bool{}, map[string]bool{}
	for _, b := range list {
		day := b.CreatedAt.UTC().Format(time.DateOnly)
		y, w := b.CreatedAt.UTC().ISOWeek()
		week := fmt.Sprintf("%d-%02d", y, w)
		if !days[day] && len(days) < daily {
			days[day], keep[b.ID] = true, true
		}
		if !weeks[week] && len(weeks) < weekly {
			weeks[week], keep[b.ID] = true, true
		}
	}
	deleted := 0
	for _, b := range list {
		if keep[b.ID] {
			continue
		}
		// The record goes first: a blob left behind by a failure is only storage (erasure removes
		// it with the tenant's prefix); a record without its blob would promise a restore.
		if err := m.reg.DeleteBackup(ctx, b.ID); err != nil {
			return deleted, err
		}
		if m.cfg.Blobs != nil {
			if _, err := m.cfg.Blobs.DeletePrefix(ctx, b.Key); err != nil {
				return deleted, err
			}
		}
		deleted++
	}
	return deleted, nil
}
