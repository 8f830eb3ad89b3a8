package tenancy

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
)

// ReplaceFile puts the checked database file download (a restored backup at schema version
// version) in place of t's database: with requests to t held at its lock (no request ever sees
// half a restore), the current files are renamed aside as a safety copy, whose path it returns,
// and download is renamed into place. The tenant migrates lazily if version is older.
//
// Its outcome is what the operator is told: an error means t still has its old database (and
// says so), unless putting it back failed too, and then the error says where the files are.
// Once the restored file is in place the restore is done: a later step that fails (syncing the
// directory, recording the version) is logged as a warning, and the next open of the tenant
// records its version (see recordBeforeSwap for why that is safe).
func (m *Manager) ReplaceFile(ctx context.Context, t Tenant, download *Scratch, version int) (string, error) {
	tmp := download.Name()
	path, err := m.Path(t.ID)
	if err != nil {
		return "", err
	}
	safety := fmt.Sprintf("%s.replaced-%s-%s", path, m.cfg.Now().UTC().Format("20060102T150405Z"), strings.ToLower(rand.Text()[:6]))
	err = m.Exclusive(ctx, t.ID, func() error {
		undoRecord, err := m.recordBeforeSwap(ctx, t.ID, version)
		if err != nil {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		// Our descriptor must not outlive the rename: the file becomes the database. The data
		// was written and synced through it already, so a failing close loses nothing.
		_ = download.Close()
		if err := m.swapFiles(path, tmp, safety); err != nil {
			undoRecord()
			return err
		}
		// The restored file serves from here on: what follows is follow-up, not the restore.
		// The replicator's local state describes the file set aside: without it, replication
		// starts afresh on the restored file (a snapshot) when the tenant next opens.
		if err := removeReplicaState(path); err != nil {
			m.cfg.Logger.WarnContext(ctx, "restore done, but removing the replicator's state of the replaced file failed",
				"tenant", t.Slug, "err", err)
		}
		m.mu.Lock()
		delete(m.faulted, t.ID) // a good file again
		m.mu.Unlock()
		if err := SyncDir(filepath.Dir(path)); err != nil {
			m.cfg.Logger.WarnContext(ctx, "restore done, but syncing its directory failed: a crash soon may bring the replaced file back",
				"tenant", t.Slug, "err", err)
		}
		// Still under the tenant's lock: no request can open it before the registry knows.
		if err := m.reg.SetSchema(ctx, t.ID, version, MigrationOK, ""); err != nil {
			m.cfg.Logger.WarnContext(ctx, "restore done, but recording its schema version failed: the next open of the tenant records it",
				"tenant", t.Slug, "version", version, "err", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	m.cache.invalidate()
	return safety, nil
}

// ProvisionFrom makes a new tenant n whose database is a copy of the file at src (a restored
// backup at schema version version, checked by the caller). The copy is durable before the
// tenant is registered and keeps a scratch name until then (see provision.go): a failed
// registration removes it, and a crash never leaves a business's data under a tenant's name
// that no registry row knows.
func (m *Manager) ProvisionFrom(ctx context.Context, n NewTenant, src string, version int) (Tenant, error) {
	t := Tenant{Slug: n.Slug, Name: n.Name, Timezone: n.Timezone, Status: TenantActive,
		SchemaVersion: version, MigrationStatus: MigrationOK, CreatedAt: m.cfg.Now().UTC()}
	return m.provisionFile(ctx, t, src)
}
