package tenancy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A new tenant's database is made under a scratch name beside its final one,
// <id>.db.provision-*, held locked (flock) while it is filled and synced, and is renamed to
// <id>.db only after the registry row exists. So a crash leaves one of:
//   - a scratch file and no row: the sign-up was never acknowledged; start-up removes the file
//     (RemoveLeftovers), as it does a killed backup's copy;
//   - a row and a complete scratch file: start-up (finishProvisioning) renames it into place;
//   - a row and <id>.db: done.
//
// A file at <id>.db that no row names (left by a crash of an older release between the rename
// and the registration, or between copying a spare and recording it) is renamed to
// <id>.db.orphan-<time> by start-up and logged: it may hold a business's data, so it is kept
// for the operator rather than removed, under a name erasure of that id still finds.

// orphanGrace is how old an unregistered <id>.db must be before start-up sets it aside: a
// younger one may be a spare or a sign-up of another process (the CLI beside the server) in
// the moment between two of its steps.
const orphanGrace = 10 * time.Minute

// copyToScratch copies src to a new locked scratch file <path>.provision-*, synced with its
// directory entry, and returns it (the caller closes it, which lets go of the lock).
func copyToScratch(src, path string) (s *Scratch, err error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer func() { _ = in.Close() }() // only read
	dir := filepath.Dir(path)
	out, err := createScratch(dir, filepath.Base(path)+".provision-*")
	if err != nil {
		return nil, err
	}
	if _, err = io.Copy(out, in); err == nil {
		err = out.Sync()
	}
	if err == nil {
		err = SyncDir(dir)
	}
	if err != nil {
		out.Remove()
		return nil, err
	}
	return out, nil
}

// registerAndPlace registers t, whose complete database waits at the scratch name work (locked
// by the caller until release), then renames it to path, all with t's requests held at its
// lock (none may open t before its file is in place). An error means t was not registered; the
// caller removes work. Once t is registered it counts as made: a failing rename is logged and
// finished by the next start-up (finishProvisioning).
func (m *Manager) registerAndPlace(ctx context.Context, t Tenant, work, path string, release func()) error {
	return m.Exclusive(ctx, t.ID, func() error {
		defer release() // before any SQLite connection opens the file: closing drops its locks
		if err := m.hooks.fault("provision.register"); err != nil {
			return err
		}
		if err := m.reg.Create(ctx, t, false); err != nil {
			return err
		}
		err := m.hooks.fault("provision.place")
		if err == nil {
			err = placeFile(work, path)
		}
		if err != nil {
			m.cfg.Logger.ErrorContext(ctx, "put a new tenant's database in place: the next start-up finishes it",
				"tenant", t.Slug, "tenant_id", t.ID, "file", work, "err", err)
		}
		return nil
	})
}

// provisionCopy is ProvisionWith without setup and without a spare: the template is copied to
// a scratch file of a new id, which is registered and then put in place.
func (m *Manager) provisionCopy(ctx context.Context, t Tenant) (Tenant, error) {
	tmpl, err := m.templatePath(ctx)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, err)
	}
	return m.provisionFile(ctx, t, tmpl)
}

// provisionFile registers t (its ID left empty: a new one is made) with a copy of the
// database file src.
func (m *Manager) provisionFile(ctx context.Context, t Tenant, src string) (Tenant, error) {
	t.ID = newID()
	path, err := m.Path(t.ID)
	if err != nil {
		return Tenant{}, err
	}
	work, err := copyToScratch(src, path)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, err)
	}
	defer func() { _ = work.Close() }() // lets go of the lock; registerAndPlace did already
	if err := m.registerAndPlace(ctx, t, work.Name(), path, func() { _ = work.Close() }); err != nil {
		return Tenant{}, errors.Join(err, removeDBFiles(work.Name()))
	}
	m.cache.invalidate()
	return t, nil
}

// placeFile renames the scratch database work to path and makes the rename durable.
func placeFile(work, path string) error {
	if err := os.Rename(work, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// finishProvisioning completes, at start-up, the tenants whose registration got through but
// whose database was still at its scratch name (<id>.db.provision-*) when the process died, and
// sets aside the <id>.db files that no registry row names (see orphanGrace). It runs before
// RemoveLeftovers, which removes the scratch files left of sign-ups that were never
// registered. It returns how many files it moved.
func (m *Manager) finishProvisioning(ctx context.Context) (int, error) {
	scratch, err := filepath.Glob(filepath.Join(m.cfg.DataDir, "tenants", "*", "*.db.provision-*"))
	if err != nil {
		return 0, err
	}
	dbs, err := filepath.Glob(filepath.Join(m.cfg.DataDir, "tenants", "*", "*.db"))
	if err != nil {
		return 0, err
	}
	// The registry is read after the directory: a file made after the glob is not looked at,
	// and one seen by it is either registered by now or in the moment orphanGrace covers.
	known := map[string]bool{}
	all, err := m.reg.List(ctx)
	if err != nil {
		return 0, err
	}
	for _, t := range all {
		known[t.ID] = true
	}
	spares, err := m.reg.Spares(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, p := range scratch {
		if _, ok := sidecarOf(p); ok {
			continue
		}
		id, _, _ := strings.Cut(filepath.Base(p), ".db.provision-")
		path, perr := m.Path(id)
		if perr != nil || !known[id] {
			continue // never registered: RemoveLeftovers removes it
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			continue // in place already: this one is a leftover copy
		}
		moved, err := placeUnlocked(p, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("finish provisioning tenant %s: %w", id, err))
			continue
		}
		if moved {
			m.cfg.Logger.WarnContext(ctx, "put in place the database of a tenant whose sign-up was interrupted after its registration",
				"tenant_id", id)
			n++
		}
	}
	stamp := m.cfg.Now().UTC().Format("20060102T150405Z")
	for _, p := range dbs {
		id := strings.TrimSuffix(filepath.Base(p), ".db")
		if known[id] {
			continue
		}
		if _, ok := spares[id]; ok {
			continue
		}
		if path, err := m.Path(id); err != nil || path != p {
			continue // not a tenant database's name
		}
		fi, err := os.Stat(p)
		if err != nil || m.cfg.Now().Sub(fi.ModTime()) < orphanGrace {
			continue
		}
		orphan := p + ".orphan-" + stamp
		var moveErr error
		for _, suffix := range dbSuffixes {
			if err := os.Rename(p+suffix, orphan+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				moveErr = errors.Join(moveErr, err)
			}
		}
		if moveErr != nil {
			errs = append(errs, fmt.Errorf("set aside unregistered tenant database %s: %w", p, moveErr))
			continue
		}
		m.cfg.Logger.WarnContext(ctx, "set aside a tenant database that no registry row names: check it, then remove it",
			"tenant_id", id, "file", orphan)
		n++
		errs = append(errs, SyncDir(filepath.Dir(p)))
	}
	return n, errors.Join(errs...)
}

// placeUnlocked renames the scratch database work to path unless a process holds it locked
// (it is still being made); it reports whether it did.
func placeUnlocked(work, path string) (bool, error) {
	f, err := os.Open(work)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }() // only opened to take the lock
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false, nil
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		// Registration came after the WAL was folded in (ready): these hold nothing.
		if err := os.Remove(work + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, placeFile(work, path)
}
