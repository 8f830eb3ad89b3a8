package tenancy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// dbSuffixes are the files of one database, the main file first.
var dbSuffixes = []string{"", "-wal", "-shm"}

// recordBeforeSwap prepares the registry for a restore of tenant id to a file at schema version
// version, before any file moves: it records the lower of that version and the one on record.
// A registry that records a version at or below a file's is always right enough: opening
// checks the file against it (a file below the record is taken for a truncated one) and then
// records the file's real version. So whichever file the restore leaves in place, the old or
// the restored one, opens, even if no later registry write gets through. undo puts the old
// record back (best effort: the lower record is harmless).
func (m *Manager) recordBeforeSwap(ctx context.Context, id string, version int) (undo func(), err error) {
	t, err := m.reg.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the tenant's record: %w", err)
	}
	if version >= t.SchemaVersion {
		return func() {}, nil
	}
	if err := m.reg.SetSchema(ctx, id, version, t.MigrationStatus, t.LastError); err != nil {
		return nil, fmt.Errorf("record the restored schema version: %w", err)
	}
	return func() {
		if err := m.reg.SetSchema(context.WithoutCancel(ctx), id, t.SchemaVersion, t.MigrationStatus, t.LastError); err != nil {
			m.cfg.Logger.WarnContext(ctx, "put back the schema version on record after a failed restore: the next open records it",
				"tenant", t.Slug, "err", err)
		}
	}, nil
}

// swapFiles renames the database at path (with its -wal and -shm) to safety and the file
// restored to path. On failure it moves back what it moved, so that the database at path is
// the one it found; the error says whether that worked.
func (m *Manager) swapFiles(path, restored, safety string) error {
	var moved []string // suffixes renamed to safety so far
	putBack := func(cause error) error {
		var errs []error
		for _, suffix := range moved {
			if err := os.Rename(safety+suffix, path+suffix); err != nil {
				errs = append(errs, fmt.Errorf("put %s back from %s: %w", filepath.Base(path+suffix), safety+suffix, err))
			}
		}
		if len(errs) > 0 {
			// The tenant has no whole database file at its path: the operator must know where
			// its data is.
			return fmt.Errorf("restore failed half way, the tenant's database is at %s: %w", safety,
				errors.Join(append([]error{cause}, errs...)...))
		}
		return fmt.Errorf("nothing was changed: %w", cause)
	}
	for _, suffix := range dbSuffixes {
		if err := m.hooks.fault("restore.set-aside" + suffix); err != nil {
			return putBack(fmt.Errorf("set aside %s: %w", filepath.Base(path+suffix), err))
		}
		err := os.Rename(path+suffix, safety+suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return putBack(fmt.Errorf("set aside %s: %w", filepath.Base(path+suffix), err))
		}
		moved = append(moved, suffix)
	}
	err := m.hooks.fault("restore.put-in-place")
	if err == nil {
		err = os.Rename(restored, path)
	}
	if err != nil {
		return putBack(fmt.Errorf("put the restored file in place: %w", err))
	}
	return nil
}
