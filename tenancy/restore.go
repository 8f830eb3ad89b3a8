package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReplaceFile puts the checked database file download (a restored backup at schema version
// version) in place of t's database: with requests to t held at its lock (no request ever sees
// half a restore), the current files are renamed aside as a safety copy, whose path it returns,
// and download is renamed into place. The tenant migrates lazily if version is older.
func (m *Manager) ReplaceFile(ctx context.Context, t Tenant, download *Scratch, version int) (string, error) {
	tmp := download.Name()
	path, err := m.Path(t.ID)
	if err != nil {
		return "", err
	}
	safety := fmt.Sprintf("%s.replaced-%s-%s", path, m.cfg.Now().UTC().Format("20060102T150405Z"), strings.ToLower(rand.Text()[:6]))
	err = m.Exclusive(ctx, t.ID, func() error {
		// Our descriptor must not outlive the rename: the file becomes the database. The data
		// was written and synced through it already, so a failing close loses nothing.
		_ = download.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, safety+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("set aside %s: %w", filepath.Base(path+suffix), err)
			}
		}
		if err := os.Rename(tmp, path); err != nil {
			err = fmt.Errorf("put restored file in place: %w", err)
			// Put the original back, its WAL included; if that fails too the tenant has no
			// whole database file, and the operator must know where its data is.
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if rerr := os.Rename(safety+suffix, path+suffix); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
					err = errors.Join(err, fmt.Errorf("put original back from %s: %w", safety+suffix, rerr))
				}
			}
			return err
		}
		if err := SyncDir(filepath.Dir(path)); err != nil {
			return err
		}
		// The replicator's local state describes the file set aside: it starts afresh on the
		// restored one (with a snapshot) when the tenant next opens.
		if err := removeReplicaState(path); err != nil {
			return err
		}
		// Still under the tenant's lock: no request can migrate it before the registry knows.
		m.mu.Lock()
		delete(m.faulted, t.ID) // a good file again
		m.mu.Unlock()
		return m.reg.SetSchema(ctx, t.ID, version, MigrationOK, "")
	})
	if err != nil {
		return "", err
	}
	m.cache.invalidate()
	return safety, nil
}

// ProvisionFrom makes a new tenant n whose database is a copy of the file at src (a restored
// backup at schema version version, checked by the caller). The copy is durable before the
// tenant is registered; a failed registration removes it.
func (m *Manager) ProvisionFrom(ctx context.Context, n NewTenant, src string, version int) (Tenant, error) {
	t := Tenant{ID: newID(), Slug: n.Slug, Name: n.Name, Timezone: n.Timezone, Status: TenantActive,
		SchemaVersion: version, MigrationStatus: MigrationOK, CreatedAt: m.cfg.Now().UTC()}
	path, err := m.Path(t.ID)
	if err != nil {
		return Tenant{}, err
	}
	if err := copyFileDurably(src, path); err != nil {
		return Tenant{}, err
	}
	if err := m.reg.Create(ctx, t, false); err != nil {
		err = fmt.Errorf("register tenant %s: %w", n.Slug, err)
		if rerr := os.Remove(path); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove unregistered copy: %w", rerr))
		}
		return Tenant{}, err
	}
	m.cache.invalidate()
	return t, nil
}
