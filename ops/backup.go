package ops

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
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// backupKey is where a backup lives in the blob store: under the tenant's id, so erasing the
// tenant removes it with the rest of its blobs.
func backupKey(tenantID, backupID string) string { return tenantID + "/backups/" + backupID + ".db.gz" }

// ErrNoBlobStore means backups were asked of a Manager that has no blob store configured.
var ErrNoBlobStore = errors.New("no blob store configured")

// Backup makes a consistent online copy of t's database (the backup API while requests go on),
// checks the copy with integrity_check, stores it gzip-compressed in the blob store and records
// it in the registry.
func (s *Service) Backup(ctx context.Context, t tenancy.Tenant) (tenancy.Backup, error) {
	if s.cfg.Blobs == nil {
		return tenancy.Backup{}, ErrNoBlobStore
	}
	// The whole backup under a lease, so the tenant cannot be deleted or restored under it.
	var b tenancy.Backup
	err := s.m.Visit(ctx, t, func(l *tenancy.Lease) (err error) {
		b, err = s.backup(ctx, t, l)
		return err
	})
	return b, err
}

func (s *Service) backup(ctx context.Context, t tenancy.Tenant, l *tenancy.Lease) (tenancy.Backup, error) {
	var err error
	b := tenancy.Backup{ID: strings.ToLower(rand.Text()), TenantID: t.ID, CreatedAt: s.cfg.Now().UTC()}
	b.Key = backupKey(t.ID, b.ID)
	path, err := s.m.Path(t.ID)
	if err != nil {
		return tenancy.Backup{}, err
	}
	// The snapshot is a full copy of the business: beside its database, named after it, so that
	// deleting the business finds it; one a killed backup left is removed first.
	if _, err := tenancy.RemoveAbandoned(path + ".snapshot-*"); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "remove leftover backup snapshots", "tenant", t.Slug, "err", err)
	}
	scratch, err := tenancy.NewScratch(path + ".snapshot-" + b.ID)
	if err != nil {
		return tenancy.Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
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
		return tenancy.Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
	}
	b.VerifiedAt = s.cfg.Now().UTC()

	f, err := os.Open(snapshot)
	if err != nil {
		return tenancy.Backup{}, err
	}
	defer func() { _ = f.Close() }() // read only
	pr, pw := io.Pipe()
	// The copy's error reaches the reader through the pipe, so atLowPriority's is always nil.
	go func() {
		_ = atLowPriority(func() error {
			gz := newGzip(pw)
			_, err := io.Copy(gz, f)
			err = errors.Join(err, gz.Close())
			gzips.Put(gz)
			pw.CloseWithError(err)
			return nil
		})
	}()
	sum := sha256.New()
	counter := &countingWriter{h: sum}
	if err := s.cfg.Blobs.Put(ctx, b.Key, io.TeeReader(pr, counter)); err != nil {
		pr.CloseWithError(err)
		return tenancy.Backup{}, fmt.Errorf("back up %s: %w", t.Slug, err)
	}
	b.SHA256, b.SizeBytes = hex.EncodeToString(sum.Sum(nil)), counter.n
	if err := s.reg.AddBackup(ctx, b); err != nil {
		return tenancy.Backup{}, err
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
		return c.Raw().Backup("main", tenancy.FileURL(path)+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	})
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	// immutable: the copy is a plain file nobody else has open (no WAL, no locks to take).
	if _, err := conn.ExecContext(ctx, `ATTACH ? AS snapshot`, tenancy.FileURL(path)+"?mode=ro&immutable=1"); err != nil {
		return 0, fmt.Errorf("open the copy: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `DETACH snapshot`); err != nil {
			// A connection left with the copy attached must not serve again.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // always "fails": that drops it
		}
	}()
	return checkDatabase(ctx, conn, "snapshot")
}

// verifyDatabase runs integrity_check on the database file at path (a restore's download).
func verifyDatabase(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", tenancy.FileURL(path)+"?mode=ro")
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // read only
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
		return 0, fmt.Errorf("%w: the copy failed its check: integrity_check: %s", tenancy.ErrCorrupt, res)
	}
	var v int
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+schema+`.schema_migrations`).Scan(&v)
	return v, err
}

// ChangedSince reports whether t's database was written after at, by the files' modification
// times: a write appends to the WAL, a checkpoint writes the database file. A WAL that is empty
// was only created by a connection opening, which is no change. A file that is missing or empty
// has not "not changed": it is lost, and reported as changed so that Backup refuses it (the
// tenant is marked failed, logged at ERROR, and its good backups stay).
func (s *Service) ChangedSince(t tenancy.Tenant, at time.Time) (bool, error) {
	problem, err := s.m.FileProblem(t)
	if err != nil || problem != "" {
		return true, err
	}
	path, err := s.m.Path(t.ID)
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
func (s *Service) Restore(ctx context.Context, t tenancy.Tenant, backupID string) (tenancy.Backup, string, error) {
	b, download, err := s.fetchBackup(ctx, t.ID, backupID)
	if err != nil {
		return tenancy.Backup{}, "", err
	}
	defer download.Remove()
	safety, err := s.m.ReplaceFile(ctx, t, download, b.SchemaVersion)
	if err != nil {
		return tenancy.Backup{}, "", fmt.Errorf("restore %s: %w", t.Slug, err)
	}
	return b, safety, nil
}

// RestoreInto makes a new tenant n from backup backupID of tenant sourceID (its newest when
// empty), leaving the source alone. The copy keeps the business's data but none of the
// source's ways in or out (see copySecrets): its users sign in again with their passwords.
func (s *Service) RestoreInto(ctx context.Context, sourceID, backupID string, n tenancy.NewTenant) (tenancy.Tenant, error) {
	n.Name = strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return tenancy.Tenant{}, err
	}
	b, download, err := s.fetchBackup(ctx, sourceID, backupID)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	defer download.Remove()
	tmp := download.Name()
	if err := dropSecrets(ctx, tmp); err != nil {
		return tenancy.Tenant{}, fmt.Errorf("restore into %s: %w", n.Slug, err)
	}
	return s.m.ProvisionFrom(ctx, n, tmp, b.SchemaVersion)
}

// copySecrets are the tables a copy of a business (restore --into) starts without, as the
// domain names them.
var copySecrets = domain.CopyDropTables()

// dropSecrets empties the copySecrets tables of the database file at path (those it has), with
// secure_delete so that the rows do not linger in free pages.
func dropSecrets(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite3", tenancy.FileURL(path)+"?mode=rw&_pragma=busy_timeout(10000)&_pragma=journal_mode(delete)&_pragma=secure_delete(1)&_pragma=foreign_keys(0)")
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // each statement below committed or failed already
	db.SetMaxOpenConns(1)
	// No transaction: the file is a scratch copy that the caller removes when this fails.
	for _, table := range copySecrets {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			continue // a backup from before the table existed
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM `+ident(table)); err != nil {
			return fmt.Errorf("empty %s: %w", table, err)
		}
	}
	return nil
}

// fetchBackup downloads and checks a backup of tenant tenantID into a scratch file beside the
// tenant's database (same file system, so it can be renamed into place; named after the
// tenant, so erasure finds it). The caller removes it.
func (s *Service) fetchBackup(ctx context.Context, tenantID, backupID string) (tenancy.Backup, *tenancy.Scratch, error) {
	if s.cfg.Blobs == nil {
		return tenancy.Backup{}, nil, ErrNoBlobStore
	}
	list, err := s.reg.Backups(ctx, tenantID)
	if err != nil {
		return tenancy.Backup{}, nil, err
	}
	var b tenancy.Backup
	for _, c := range list {
		if c.ID == backupID || backupID == "" {
			b = c
			break
		}
	}
	if b.ID == "" {
		return tenancy.Backup{}, nil, fmt.Errorf("backup %q of this tenant: %w", backupID, tenancy.ErrNotFound)
	}
	path, err := s.m.Path(tenantID)
	if err != nil {
		return tenancy.Backup{}, nil, err
	}
	out, err := tenancy.NewScratch(path + ".restore-" + strings.ToLower(rand.Text()[:10]))
	if err != nil {
		return tenancy.Backup{}, nil, err
	}
	tmp := out.Name()
	fail := func(err error) (tenancy.Backup, *tenancy.Scratch, error) {
		out.Remove()
		return tenancy.Backup{}, nil, fmt.Errorf("restore backup %s: %w", b.ID, err)
	}
	r, err := s.cfg.Blobs.Get(ctx, b.Key)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = r.Close() }() // read only
	sum := sha256.New()
	gz, err := gzip.NewReader(io.TeeReader(r, sum))
	if err != nil {
		return fail(err)
	}
	if _, err := io.Copy(out, gz); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // the hash covers the whole object
		return fail(fmt.Errorf("read the stored copy: %w", err))
	}
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
func (s *Service) PruneBackups(ctx context.Context, tenantID string, daily, weekly int) (int, error) {
	list, err := s.reg.Backups(ctx, tenantID) // newest first
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
		if err := s.reg.DeleteBackup(ctx, b.ID); err != nil {
			return deleted, err
		}
		if s.cfg.Blobs != nil {
			if _, err := s.cfg.Blobs.DeletePrefix(ctx, b.Key); err != nil {
				return deleted, err
			}
		}
		deleted++
	}
	return deleted, nil
}
