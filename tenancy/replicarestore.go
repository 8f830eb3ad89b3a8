package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrNoReplicaCopy is what Config.RestoreMissing returns when the replica holds nothing for a
// tenant (it was never opened while replication was on).
var ErrNoReplicaCopy = errors.New("the replica holds no copy")

// restoreMissingWait bounds one restore of a missing tenant database from the replica when it
// is first opened (recover without --eager): long enough for a large business over a slow
// link, short enough that a store that hangs does not hold the tenant's open for good.
const restoreMissingWait = 10 * time.Minute

// restoreMissing puts t's database back at path from the replica (Config.RestoreMissing), for a
// data directory rebuilt with `reserva recover`: the registry came back first, and each
// business's file comes back the first time it is opened. The copy is written beside path under
// a scratch name (erasure finds it), checked by RestoreMissing, and renamed into place, so a
// request never sees half a file. It is called with t's open in progress (its lock held).
func (m *Manager) restoreMissing(ctx context.Context, t Tenant, path string) error {
	_, err := m.restoreFile(ctx, t, path, m.cfg.RestoreMissing)
	return err
}

// RestoreMissingFile puts t's database back from the replica with restore (as
// Config.RestoreMissing) when its file is missing, and returns the bytes restored (0 when the
// file is there). `reserva recover --eager` calls it for every tenant, with no server running.
func (m *Manager) RestoreMissingFile(ctx context.Context, t Tenant, restore func(ctx context.Context, t Tenant, dst string) error) (int64, error) {
	path, err := m.Path(t.ID)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return m.restoreFile(ctx, t, path, restore)
}

func (m *Manager) restoreFile(ctx context.Context, t Tenant, path string, restore func(ctx context.Context, t Tenant, dst string) error) (int64, error) {
	// Deleted while this request waited: nothing to bring back.
	if _, err := m.reg.Get(ctx, t.ID); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("restore tenant %s from the replica: %w", t.Slug, err)
	}
	tmp := path + ".restore-" + strings.ToLower(rand.Text()[:10])
	rctx, cancel := context.WithTimeout(ctx, restoreMissingWait)
	defer cancel()
	start := time.Now()
	if err := restore(rctx, t, tmp); err != nil {
		_ = removeDBFiles(tmp) // the restore's own error is the one to report
		return 0, fmt.Errorf("restore tenant %s from the replica: %w", t.Slug, err)
	}
	// Locked until it is the database: start-up clean-up of a command starting beside this
	// process takes an unlocked scratch file for one a crash left.
	held, err := AdoptScratch(tmp, tmp)
	if err != nil {
		_ = removeDBFiles(tmp) // the lock's error is the one to report
		return 0, fmt.Errorf("restore tenant %s from the replica: %w", t.Slug, err)
	}
	defer func() { _ = held.Close() }() // only held for the lock
	if err := os.Rename(tmp, path); err != nil {
		_ = removeDBFiles(tmp) // the rename's error is the one to report
		return 0, fmt.Errorf("restore tenant %s from the replica: put the copy in place: %w", t.Slug, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return 0, fmt.Errorf("restore tenant %s from the replica: %w", t.Slug, err)
	}
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	m.cfg.Logger.InfoContext(ctx, "tenant restored from the replica", "tenant", t.Slug,
		"tenant_id", t.ID, "bytes", size, "took", time.Since(start))
	return size, nil
}

// AdoptScratch makes the file at path, just written by another writer (the replica's restore,
// which creates its file itself), a Scratch named name: locked first, then renamed to name
// (replacing what is there, e.g. the empty scratch file that reserved the name), so that it is
// never an unlocked scratch file that start-up clean-up would take for a crash's leftover
// (except while the other writer wrote it).
func AdoptScratch(path, name string) (*Scratch, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // the lock lives on in the duplicate below
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if path != name {
		if err := os.Rename(path, name); err != nil {
			return nil, err
		}
	}
	// A duplicate descriptor shares the lock and carries the new name (os.File's Name is the
	// one it was opened with).
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	syscall.CloseOnExec(fd)
	return &Scratch{os.NewFile(uintptr(fd), name)}, nil
}
