package tenancy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SparesReady is how many spare databases are ready to be claimed.
func (m *Manager) SparesReady() int { return len(m.spares) }

// putBackSpare returns an unclaimed spare to the pool, or discards it when the pool is full.
func (m *Manager) putBackSpare(id string) {
	select {
	case m.spares <- id:
	default:
		m.discardSpare(context.Background(), id)
	}
}

// discardSpare removes a spare database, unless it is no longer a spare (claimed by another
// process, its file now a tenant's).
func (m *Manager) discardSpare(ctx context.Context, id string) {
	removed, err := m.reg.RemoveSpare(ctx, id)
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "discard spare tenant database", "id", id, "err", err)
	}
	if !removed {
		return
	}
	if path, err := m.Path(id); err == nil {
		if err := removeFile(path); err != nil {
			m.cfg.Logger.ErrorContext(ctx, "discard spare tenant database", "id", id, "err", err)
		}
	}
}

// fillSpares keeps cfg.Spares spare databases ready until Close. It first takes over the spares
// of earlier runs that are at the current schema version and discards the others.
func (m *Manager) fillSpares() {
	ctx := context.Background()
	known, err := m.reg.Spares(ctx)
	if err != nil {
		m.cfg.Logger.Error("load spare tenant databases", "err", err)
	}
	for id, v := range known {
		path, perr := m.Path(id)
		if perr == nil && v == m.latest {
			if _, err := os.Stat(path); err == nil {
				m.putBackSpare(id) // discards it when the pool is full
				continue
			}
		}
		m.discardSpare(ctx, id)
	}
	for {
		for len(m.spares) < cap(m.spares) {
			id, err := m.newTenantFile(ctx)
			if err == nil {
				if err = m.reg.AddSpare(ctx, id, m.latest); err != nil {
					if path, perr := m.Path(id); perr == nil {
						err = errors.Join(err, removeFile(path))
					}
				}
			}
			if err != nil {
				m.cfg.Logger.Error("make spare tenant database", "err", err)
				break // try again on the next wake-up
			}
			m.putBackSpare(id) // a failed sign-up may have refilled the pool meanwhile
		}
		select {
		case <-m.stop:
			return
		case <-m.spareWake:
		}
	}
}

// templatePath returns a database migrated to the latest tenant schema, making it on first use.
// Its name carries the version, so a binary with newer migrations makes a new one.
func (m *Manager) templatePath(ctx context.Context) (string, error) {
	m.templateMu.Lock()
	defer m.templateMu.Unlock() // concurrent first sign-ups wait for one template
	if m.template != "" {
		return m.template, nil
	}
	dir := filepath.Join(m.cfg.DataDir, "templates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make tenant template: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("tenant-v%04d.db", m.latest))
	if err := m.verifyTemplate(ctx, path); err == nil {
		m.template = path
		return path, nil
	}
	tmp := path + "." + newID() + ".tmp" // unique: the CLI and the server may both be making one
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmp + suffix) // gone after the rename into place; a leftover is only a copy of the template
		}
	}()
	db, err := openDB(tmp, openOptions{create: true, readConns: 1})
	if err != nil {
		return "", fmt.Errorf("make tenant template: %w", err)
	}
	_, _, err = migrate(ctx, db.Write, m.cfg.Migrations, m.cfg.Now)
	if err == nil {
		// Move everything into the main file, so copying that one file copies the whole schema.
		_, err = db.Write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	err = errors.Join(err, db.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return "", fmt.Errorf("make tenant template: %w", err)
	}
	m.template = path
	return path, nil
}

// verifyTemplate checks that path exists and holds exactly the latest schema version.
func (m *Manager) verifyTemplate(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := openDB(path, openOptions{readConns: 1})
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // only read
	v, err := schemaVersion(ctx, db.Read)
	if err == nil && v != m.latest {
		err = fmt.Errorf("template has version %d", v)
	}
	return err
}

// copyFileDurably copies src to dst through a temporary file that is synced and renamed into
// place, then syncs the directory: dst either does not exist or is complete, even after a crash.
func copyFileDurably(src, dst string) (err error) {
	dir := filepath.Dir(dst)
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // only read
	// Named after the destination: a copy of a business (restore --into) that a crash leaves
	// here is found by start-up clean-up and by erasure.
	out, err := createScratch(dir, filepath.Base(dst)+".provision-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(out.Name()) // else start-up clean-up and erasure find it by its name
		}
	}()
	if _, err = io.Copy(out, in); err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(out.Name(), dst); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (files created, renamed or removed in it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }() // the Sync is what counts
	return d.Sync()
}
