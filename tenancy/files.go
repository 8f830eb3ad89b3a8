package tenancy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Where a tenant's data can live: the inventory that erasure (Delete) works through and the
// erasure test checks. Every file of a tenant is named after its id, under paths the Manager
// knows, so that deleting the tenant finds every copy.
//
//   - DataDir/tenants/<id[:2]>/<id>.db, -wal, -shm: its database.
//   - <id>.db.replaced-*: safety copies kept by restores.
//   - <id>.db.orphan-*: a database that no registry row named, set aside at start-up (see
//     provision.go).
//   - <id>.db.snapshot-*: a backup's copy while it is checked and compressed (scratch).
//   - <id>.db.restore-*: a backup downloaded for a restore (scratch).
//   - <id>.db.provision-*: a database being copied into place, or filled by a sign-up before
//     it is registered (scratch).
//   - <id>.export-*.zip: a dashboard export being zipped (scratch).
//   - DataDir/tenants/<id[:2]>/.<id>.db-litestream/: the replicator's local state (LTX files
//     of recent changes) while the tenant is replicated (--replica); removed by Delete and by a
//     restore in place.
//   - the replica (--replica): everything under tenants/<id>/, erased through
//     Config.Replicator.Delete. (The registry's replica keeps older pages that named the
//     tenant until its retention drops them.)
//   - DataDir/mail/<id>/: mail written as files when no SMTP server is set.
//   - blobs under <id>/: backups, logos (and the blob store's own temporary files there),
//     erased through Config.EraseElsewhere (ops.EraseBlobs).
//   - the registry: its row, hosts, old slugs, backup records and stats (secure_delete, and
//     the WAL truncated after the delete); the tombstone keeps the slug only, not the id.
//   - DataDir/tmp/<id>-*: backup snapshots of releases before this layout.
//
// Scratch files are locked (flock) while in use. A process killed mid-backup or mid-export
// leaves them unlocked: they are removed at start-up, before the tenant's next backup and by
// Delete, without disturbing a scratch file another process (the CLI beside the server) is
// still writing.

// scratchPatterns are the names of scratch files beside a tenant's database.
var scratchPatterns = []string{".db.snapshot-*", ".db.restore-*", ".db.provision-*", ".export-*"}

// Scratch is a file of tenant data in the making, held locked until Remove.
type Scratch struct {
	*os.File
}

// NewScratch creates path (0600) and locks it.
func NewScratch(path string) (*Scratch, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // the lock's error is the one to report; the empty file goes too
		_ = os.Remove(path)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Scratch{f}, nil
}

// createScratch is NewScratch on a new name made from pattern (its last "*" replaced by a
// random string) in dir.
func createScratch(dir, pattern string) (*Scratch, error) {
	name := strings.Replace(pattern, "*", strings.ToLower(newID()[:10]), 1)
	return NewScratch(filepath.Join(dir, name))
}

// Remove removes the file with any -wal, -shm or -journal that opening it with SQLite made
// (checking a download leaves them, and they are named after the tenant), then lets go of its
// lock. It is safe to call more than once.
func (s *Scratch) Remove() {
	_ = os.Remove(s.Name()) // best effort: start-up clean-up removes what a crash leaves
	for _, suffix := range sidecarSuffixes {
		_ = os.Remove(s.Name() + suffix)
	}
	_ = s.Close()
}

// RemoveAbandoned removes the files matching pattern that no process holds locked (left by a
// process that died) and returns how many it removed.
func RemoveAbandoned(pattern string) (int, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, p := range paths {
		if main, ok := sidecarOf(p); ok {
			// SQLite's -wal, -shm or -journal of a scratch database: it goes with its database
			// (below), never while the database is still there and perhaps in use.
			if _, err := os.Stat(main); errors.Is(err, fs.ErrNotExist) {
				if err := os.Remove(p); err == nil {
					n++
				} else if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.Remove(p); err == nil {
				n++
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			for _, suffix := range sidecarSuffixes {
				if err := os.Remove(p + suffix); err == nil {
					n++
				}
			}
		}
		_ = f.Close() // only opened to take the lock
	}
	return n, errors.Join(errs...)
}

// sidecarSuffixes are the files SQLite keeps beside a database.
var sidecarSuffixes = []string{"-wal", "-shm", "-journal"}

// sidecarOf returns the database that path is SQLite's -wal, -shm or -journal of.
func sidecarOf(path string) (string, bool) {
	for _, suffix := range sidecarSuffixes {
		if main, ok := strings.CutSuffix(path, suffix); ok {
			return main, true
		}
	}
	return "", false
}

// holdForSetUp locks the unregistered database at path and renames it to a scratch name beside
// it (<id>.db.provision-*), where it is filled before it is registered: a process that dies
// meanwhile leaves a scratch file, which start-up removes, rather than a file at a tenant's
// path that no registry row names and nothing would ever erase (it holds the owner's email and
// password hash). ready checks that the setup left no WAL (SQLite folds the WAL in when the
// last connection closes) and makes the file durable under its scratch name, for the caller to
// register and then rename to path; release lets go of the lock.
func holdForSetUp(path string) (work string, ready func() error, release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", nil, nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return "", nil, nil, fmt.Errorf("lock %s: %w", path, err)
	}
	work = path + ".provision-" + strings.ToLower(newID()[:10])
	if err := os.Rename(path, work); err != nil {
		_ = f.Close()
		return "", nil, nil, err
	}
	ready = func() error {
		if fi, err := os.Stat(work + "-wal"); err == nil && fi.Size() > 0 {
			return fmt.Errorf("set up %s: its WAL was not folded in", path)
		}
		_ = os.Remove(work + "-wal")
		_ = os.Remove(work + "-shm")
		return SyncDir(filepath.Dir(path))
	}
	return work, ready, func() { _ = f.Close() }, nil
}

// RemoveLeftovers removes the scratch files that killed processes left in the data directory
// (backup snapshots, downloads, exports: full copies of businesses' data) and the snapshot
// directory of older releases. Manager start-up calls it; it returns how many files it removed.
func (m *Manager) RemoveLeftovers() (int, error) {
	n := 0
	var errs []error
	for _, p := range scratchPatterns {
		k, err := RemoveAbandoned(filepath.Join(m.cfg.DataDir, "tenants", "*", "*"+p))
		n += k
		errs = append(errs, err)
	}
	// Temporary files of older releases: .restore-*, .provision-* and the snapshots in tmp/.
	for _, p := range []string{filepath.Join("tenants", "*", ".restore-*"), filepath.Join("tenants", "*", ".provision-*"), filepath.Join("tmp", "*")} {
		k, err := RemoveAbandoned(filepath.Join(m.cfg.DataDir, p))
		n += k
		errs = append(errs, err)
	}
	_ = os.Remove(filepath.Join(m.cfg.DataDir, "tmp")) // fails unless empty, and then it stays
	return n, errors.Join(errs...)
}

// MailDir is where mail is written as files when no SMTP server is configured: one folder per
// tenant (MailDir/<tenant id>/), which Delete removes.
func (m *Manager) MailDir() string { return filepath.Join(m.cfg.DataDir, "mail") }

// ExportFile creates a scratch file for t's export zip beside t's database (never in the
// system's temporary directory, where a crash would leave a copy that erasure cannot find).
// done closes and removes it.
func (m *Manager) ExportFile(t Tenant) (f *os.File, done func(), err error) {
	path, err := m.Path(t.ID)
	if err != nil {
		return nil, nil, err
	}
	s, err := createScratch(filepath.Dir(path), t.ID+".export-*.zip")
	if err != nil {
		return nil, nil, fmt.Errorf("export %s: %w", t.Slug, err)
	}
	return s.File, s.Remove, nil
}

// eraseFiles removes every file of tenant id in the data directory (see the inventory above),
// locked or not: the tenant is being erased under Exclusive, so nothing of its own is in use.
func (m *Manager) eraseFiles(id string) error {
	path, err := m.Path(id)
	if err != nil {
		return err
	}
	var errs []error
	remove := func(p string) {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	own, _ := filepath.Glob(filepath.Join(filepath.Dir(path), id+"*")) // .db, -wal, -shm, copies, scratch
	// -wal and -shm before the database: a crash in between leaves no WAL to replay into a
	// database that is about to go anyway.
	for _, p := range append([]string{path + "-wal", path + "-shm"}, own...) {
		remove(p)
	}
	legacy, _ := filepath.Glob(filepath.Join(m.cfg.DataDir, "tmp", id+"-*"))
	for _, p := range legacy {
		remove(p)
	}
	remove(filepath.Join(m.MailDir(), id))
	if err := removeReplicaState(path); err != nil {
		errs = append(errs, err)
	}
	flat, _ := filepath.Glob(filepath.Join(m.MailDir(), "*"+id+"*.eml")) // before per-tenant folders
	for _, p := range flat {
		remove(p)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
