// Package replica streams SQLite databases to an object store, continuously, and restores them
// (to their latest state or to a point in time). It is Reserva's own small interface over
// Litestream (github.com/benbjohnson/litestream) used as a library: that API is pre-1.0, so
// nothing outside this package imports it.
//
// A Replicator is opened on one URL: s3://bucket/prefix?endpoint=…&region=… (S3-compatible
// storage) or file:///path (a directory). Each replicated database has a name, a path under the
// URL: "registry" for the registry and "tenants/<id>" (TenantName) for a business. Attach starts
// replicating a database file under its name and returns a Handle; Handle.Sync waits until the
// replica holds everything committed so far; Handle.Close syncs a last time and detaches.
// Restore writes a name's database (as of now or of a moment) into a new file; Delete removes
// everything stored under a name.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	lsfile "github.com/benbjohnson/litestream/file"
	"github.com/ncruces/go-sqlite3"
	gcblob "gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // s3:// replicas
	"gocloud.dev/gcerrors"
)

// RegistryName is the name the registry database is replicated under.
const RegistryName = "registry"

// TenantName is the name tenant id's database is replicated under.
func TenantName(id string) string { return "tenants/" + id }

// ErrNotFound means the replica holds nothing (or nothing old enough) for a name.
var ErrNotFound = errors.New("replica holds no copy")

// ErrAttached means a name or a database file is already being replicated by this Replicator.
var ErrAttached = errors.New("already attached to the replica")

// ErrClosed means the Replicator was closed.
var ErrClosed = errors.New("replicator is closed")

// Options tune a Replicator. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// SyncInterval is how often an attached database ships its new commits on its own (without
	// a Sync): the bound on what async acknowledgement may lose. Default 1 s.
	SyncInterval time.Duration
	// SyncTimeout bounds one shared sync (Handle.Sync) and the final sync of Handle.Close.
	// Default 10 s.
	SyncTimeout time.Duration
	// Retention is how far back point-in-time restore reaches (snapshots are taken this often
	// and kept this long). Default 24 h.
	Retention time.Duration
}

// Replicator replicates attached databases to one object store location.
type Replicator struct {
	opt    Options
	target target
	store  *litestream.Store
	bucket *gcblob.Bucket // s3:// only

	shipped atomic.Int64 // LTX bytes uploaded since Open, by every handle

	mu       sync.Mutex
	attached map[string]*Handle // by name
	paths    map[string]string  // attached database path -> name
	closed   bool
}

// target is a parsed replica URL.
type target struct {
	scheme string // "s3" or "file"
	dir    string // file: the directory
	prefix string // s3: the key prefix, "" or ending in "/"
	redact string // the URL for messages, without credentials
}

// namePattern admits the names this package is given: lowercase path segments, never "..",
// never absolute, so a name can never leave its replica.
var namePattern = regexp.MustCompile(`^[a-z0-9_-]+(/[a-z0-9_-]+)*$`)

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid replica name %q", name)
	}
	return nil
}

// parseURL reads s3://bucket/prefix?endpoint=…&region=… or file:///path. It returns the
// gocloud bucket URL for s3 (the prefix removed; use_path_style and the checksum modes that
// S3-compatible servers need are added when an endpoint is given).
func parseURL(raw string) (target, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, "", fmt.Errorf("replica URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return target{}, "", fmt.Errorf("replica URL %s: a file URL has no host (file:///path)", u.Redacted())
		}
		if u.Path == "" || !path.IsAbs(u.Path) {
			return target{}, "", fmt.Errorf("replica URL %s: needs an absolute path (file:///path)", u.Redacted())
		}
		return target{scheme: "file", dir: filepath.Clean(filepath.FromSlash(u.Path)), redact: u.Redacted()}, "", nil
	case "s3":
		if u.Host == "" {
			return target{}, "", fmt.Errorf("replica URL %s: needs a bucket (s3://bucket/prefix)", u.Redacted())
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			for _, seg := range strings.Split(prefix, "/") {
				if seg == "" || seg == "." || seg == ".." {
					return target{}, "", fmt.Errorf("replica URL %s: bad prefix %q", u.Redacted(), prefix)
				}
			}
			prefix += "/"
		}
		q := u.Query()
		if q.Get("endpoint") != "" {
			for k, v := range map[string]string{
				"use_path_style":               "true",
				"request_checksum_calculation": "when_required",
				"response_checksum_validation": "when_required",
			} {
				if q.Get(k) == "" {
					q.Set(k, v)
				}
			}
		}
		bu := url.URL{Scheme: "s3", Host: u.Host, RawQuery: q.Encode()}
		return target{scheme: "s3", prefix: prefix, redact: u.Redacted()}, bu.String(), nil
	default:
		return target{}, "", fmt.Errorf("replica URL %s: scheme must be s3 or file", u.Redacted())
	}
}

// Open opens the replica at rawURL. It does not contact the store: the first Attach, Restore
// or List does.
func Open(ctx context.Context, rawURL string, opt Options) (*Replicator, error) {
	t, bucketURL, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.SyncInterval <= 0 {
		opt.SyncInterval = time.Second
	}
	if opt.SyncTimeout <= 0 {
		opt.SyncTimeout = 10 * time.Second
	}
	if opt.Retention <= 0 {
		opt.Retention = 24 * time.Hour
	}
	r := &Replicator{opt: opt, target: t, attached: map[string]*Handle{}, paths: map[string]string{}}
	if t.scheme == "s3" {
		// gocloud builds its S3 client on the AWS SDK's default HTTP client, which honours
		// AWS_CA_BUNDLE; Litestream's own S3 client fails to start when it is set.
		if r.bucket, err = gcblob.OpenBucket(ctx, bucketURL); err != nil {
			return nil, fmt.Errorf("open replica %s: %w", t.redact, err)
		}
	} else if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("open replica %s: %w", t.redact, err)
	}
	levels := litestream.CompactionLevels{
		{Level: 0},
		{Level: 1, Interval: 30 * time.Second},
		{Level: 2, Interval: 5 * time.Minute},
		{Level: 3, Interval: time.Hour},
	}
	r.store = litestream.NewStore(nil, levels)
	r.store.Logger = opt.Logger.With("subsystem", "replica")
	r.store.SnapshotInterval = opt.Retention
	r.store.SnapshotRetention = opt.Retention
	// Litestream checks every attached database's level-0 files every 15 s by default: two
	// LISTs per database per check, open or idle, about 11.8 million a day at 1,024 open
	// businesses. Level-0 files are kept 5 minutes anyway; once a minute removes them at most a
	// minute later for a quarter of the requests.
	r.store.L0RetentionCheckInterval = time.Minute
	r.store.ShutdownSyncTimeout = opt.SyncTimeout
	if err := r.store.Open(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open replica %s: %w", t.redact, err), r.closeBucket())
	}
	return r, nil
}

// String is the replica's URL without credentials.
func (r *Replicator) String() string { return r.target.redact }

func (r *Replicator) closeBucket() error {
	if r.bucket == nil {
		return nil
	}
	return r.bucket.Close()
}

// client returns a Litestream replica client for name.
func (r *Replicator) client(name string) *countingClient {
	if r.target.scheme == "file" {
		return &countingClient{ReplicaClient: lsfile.NewReplicaClient(filepath.Join(r.target.dir, filepath.FromSlash(name))), total: &r.shipped}
	}
	return &countingClient{ReplicaClient: &blobClient{bucket: r.bucket, root: r.target.prefix + name, logger: r.opt.Logger}, total: &r.shipped}
}

// Attach starts replicating the SQLite database at dbPath (in WAL mode) under name, and
// returns its handle. Replication runs in the background from now on (new commits ship within
// Options.SyncInterval); Handle.Sync waits for it. A name or path is attached once at a time.
//
// Attaching opens a connection of Litestream's own to the file, which keeps a read transaction
// and adds two tables, _litestream_seq and _litestream_lock (IsInternalTable), and takes over
// checkpointing: checkpoint through Handle.Checkpoint while attached.
func (r *Replicator) Attach(ctx context.Context, name, dbPath string) (*Handle, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := r.attached[name]; ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("attach %s: %w", name, ErrAttached)
	}
	if other, ok := r.paths[abs]; ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("attach %s: %s is attached as %s: %w", name, abs, other, ErrAttached)
	}
	h := newHandle(r, name, abs)
	r.attached[name], r.paths[abs] = h, name
	r.mu.Unlock()

	db := litestream.NewDB(abs)
	db.MonitorInterval = r.opt.SyncInterval
	db.Replica = litestream.NewReplicaWithClient(db, h.client)
	db.Replica.SyncInterval = r.opt.SyncInterval
	h.db = db
	if err := ctx.Err(); err != nil {
		r.forget(h)
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	if err := r.store.RegisterDB(db); err != nil {
		r.forget(h)
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	return h, nil
}

func (r *Replicator) forget(h *Handle) {
	h.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached[h.name] == h {
		delete(r.attached, h.name)
		delete(r.paths, h.path)
	}
}

// Attached returns the handles attached now.
func (r *Replicator) Attached() []*Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Handle, 0, len(r.attached))
	for _, h := range r.attached {
		out = append(out, h)
	}
	return out
}

// Restore writes name's database, as it was at the moment at (the zero time: its latest
// replicated state), into the new file dst, and checks it with PRAGMA integrity_check. dst must
// not exist; on success dst is the one file written (no -wal or -shm beside it), on failure
// nothing is left at dst. It returns ErrNotFound when the replica holds
// no copy of name (or none as old as at).
func (r *Replicator) Restore(ctx context.Context, name, dst string, at time.Time) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("restore %s: %s already exists", name, dst)
	}
	rep := litestream.NewReplicaWithClient(nil, r.client(name))
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = dst
	opt.Timestamp = at
	err := rep.Restore(ctx, opt)
	if errors.Is(err, litestream.ErrTxNotAvailable) || errors.Is(err, litestream.ErrNoSnapshots) {
		return fmt.Errorf("restore %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", name, r.target.redact, err)
	}
	if err := IntegrityCheck(ctx, dst); err != nil {
		return errors.Join(fmt.Errorf("restore %s: %w", name, err), removeDB(dst))
	}
	// The check opened the copy, a database in WAL mode, and SQLite left an empty -wal and a
	// -shm beside it: they would stay behind under dst's name when the caller renames the copy
	// into place.
	if err := dropSidecars(dst); err != nil {
		return errors.Join(fmt.Errorf("restore %s: %w", name, err), removeDB(dst))
	}
	return nil
}

// dropSidecars removes the -wal and -shm files beside the database at p, which is whole
// without them: a -wal that holds frames is refused (the copy would not be in one file).
func dropSidecars(p string) error {
	if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s-wal holds %d bytes: the copy is not in one file", p, fi.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var errs []error
	for _, f := range []string{p + "-wal", p + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeDB removes a database file and its WAL and shared-memory files.
func removeDB(p string) error {
	var errs []error
	for _, f := range []string{p, p + "-wal", p + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IntegrityCheck runs PRAGMA integrity_check on the database file at p and reports anything
// other than "ok".
func IntegrityCheck(ctx context.Context, p string) error {
	conn, err := sqlite3.OpenFlags(p, sqlite3.OPEN_READONLY)
	if err != nil {
		return fmt.Errorf("integrity check of %s: %w", p, err)
	}
	defer func() { _ = conn.Close() }() // read-only: nothing to lose
	stop := conn.SetInterrupt(ctx)
	defer conn.SetInterrupt(stop)
	stmt, _, err := conn.Prepare("PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check of %s: %w", p, err)
	}
	defer func() { _ = stmt.Close() }() // its error is stmt.Err's, checked below
	var problems []string
	for stmt.Step() {
		if s := stmt.ColumnText(0); s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := stmt.Err(); err != nil {
		return fmt.Errorf("integrity check of %s: %w", p, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check of %s failed: %s", p, strings.Join(problems, "; "))
	}
	return nil
}

// Delete removes everything the replica holds under name (every LTX file and snapshot). The
// name must not be attached. Deleting a name that holds nothing is not an error.
func (r *Replicator) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	_, attached := r.attached[name]
	r.mu.Unlock()
	if attached {
		return fmt.Errorf("delete %s: %w (close it first)", name, ErrAttached)
	}
	if r.target.scheme == "file" {
		if err := os.RemoveAll(filepath.Join(r.target.dir, filepath.FromSlash(name))); err != nil {
			return fmt.Errorf("delete %s from %s: %w", name, r.target.redact, err)
		}
		return nil
	}
	prefix := r.target.prefix + name + "/"
	it := r.bucket.List(&gcblob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete %s: list %s: %w", name, r.target.redact, err)
		}
		if err := r.bucket.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
}

// List returns the names under dir that hold something, sorted: List(ctx, "tenants") gives
// "tenants/<id>" for every tenant in the replica; List(ctx, "") the top level ("registry",
// "tenants").
func (r *Replicator) List(ctx context.Context, dir string) ([]string, error) {
	if dir != "" {
		if err := checkName(dir); err != nil {
			return nil, err
		}
	}
	join := func(base string) string {
		if dir == "" {
			return base
		}
		return dir + "/" + base
	}
	var out []string
	if r.target.scheme == "file" {
		ents, err := os.ReadDir(filepath.Join(r.target.dir, filepath.FromSlash(dir)))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", r.target.redact, err)
		}
		for _, e := range ents {
			if e.IsDir() && namePattern.MatchString(e.Name()) {
				out = append(out, join(e.Name()))
			}
		}
		return out, nil
	}
	prefix := r.target.prefix
	if dir != "" {
		prefix += dir + "/"
	}
	it := r.bucket.List(&gcblob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", r.target.redact, err)
		}
		if base := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/"); obj.IsDir && namePattern.MatchString(base) {
			out = append(out, join(base))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Close detaches every attached database (each with a final sync) and closes the store.
func (r *Replicator) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	var errs []error
	for _, h := range r.Attached() {
		errs = append(errs, h.Close(ctx))
	}
	errs = append(errs, r.store.Close(ctx), r.closeBucket())
	return errors.Join(errs...)
}

// IsInternalTable reports whether a table of an attached database is Litestream's
// (_litestream_seq, _litestream_lock): not the application's, so left out of exports, dumps
// and schema comparisons.
func IsInternalTable(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "_litestream_")
}

// Totals are a Replicator's figures, for metrics.
type Totals struct {
	Attached     int           // databases attached now
	MaxLag       time.Duration // the largest Stats.Lag among them
	BytesShipped int64         // LTX bytes uploaded since Open
}

// Totals returns the Replicator's figures now.
func (r *Replicator) Totals() Totals {
	hs := r.Attached()
	t := Totals{Attached: len(hs), BytesShipped: r.shipped.Load()}
	for _, h := range hs {
		t.MaxLag = max(t.MaxLag, h.Stats().Lag)
	}
	return t
}
