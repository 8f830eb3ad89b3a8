package ops

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// ReplicaSource is the continuous replica a restore reads from (*replica.Replicator).
type ReplicaSource interface {
	// Restore writes name's database as of at (zero: its latest state) into the new file dst,
	// checked with integrity_check; replica.ErrNotFound when it holds none (or none that old).
	Restore(ctx context.Context, name, dst string, at time.Time) error
}

// ErrNoReplica means a restore from the replica was asked without a replica configured.
var ErrNoReplica = errors.New("no replica configured (--replica or RESERVA_REPLICA)")

// RestoreFromReplica replaces t's database with its copy in the replica as of at (the zero time:
// the newest the replica holds; otherwise a point in time within the replica's retention).
// The copy is restored into a scratch file beside the database and checked with
// integrity_check before anything changes; then it goes through the same swap as a backup's
// restore (Manager.ReplaceFile: under the tenant's exclusive gate, the current files set aside
// as a safety copy, whose path it returns).
func (s *Service) RestoreFromReplica(ctx context.Context, rep ReplicaSource, t tenancy.Tenant, at time.Time) (string, error) {
	download, version, err := s.fetchReplica(ctx, rep, t, at)
	if err != nil {
		return "", err
	}
	defer download.Remove()
	safety, err := s.m.ReplaceFile(ctx, t, download, version)
	if err != nil {
		return "", fmt.Errorf("restore %s from the replica: %w", t.Slug, err)
	}
	return safety, nil
}

// RestoreFromReplicaInto makes a new tenant n from source's copy in the replica as of at,
// leaving source alone; like RestoreInto, the copy starts without the source's secrets.
func (s *Service) RestoreFromReplicaInto(ctx context.Context, rep ReplicaSource, source tenancy.Tenant, at time.Time, n tenancy.NewTenant) (tenancy.Tenant, error) {
	n.Name = strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return tenancy.Tenant{}, err
	}
	download, version, err := s.fetchReplica(ctx, rep, source, at)
	if err != nil {
		return tenancy.Tenant{}, err
	}
	defer download.Remove()
	if err := dropSecrets(ctx, download.Name()); err != nil {
		return tenancy.Tenant{}, fmt.Errorf("restore into %s: %w", n.Slug, err)
	}
	return s.m.ProvisionFrom(ctx, n, download.Name(), version)
}

// fetchReplica restores t's copy in the replica (as of at) into a scratch file beside t's
// database (same file system, so it can be renamed into place; named after the tenant, so
// erasure finds it) and returns it with its schema version. The caller removes it.
func (s *Service) fetchReplica(ctx context.Context, rep ReplicaSource, t tenancy.Tenant, at time.Time) (*tenancy.Scratch, int, error) {
	if rep == nil {
		return nil, 0, ErrNoReplica
	}
	path, err := s.m.Path(t.ID)
	if err != nil {
		return nil, 0, err
	}
	// The scratch file holds the name (locked, as every scratch file) while the replica writes
	// the copy beside it under a name of its own, which then replaces the scratch's, locked.
	reserved, err := tenancy.NewScratch(path + ".restore-" + strings.ToLower(rand.Text()[:10]))
	if err != nil {
		return nil, 0, err
	}
	out := reserved
	fail := func(err error) (*tenancy.Scratch, int, error) {
		out.Remove()
		return nil, 0, fmt.Errorf("restore %s from the replica: %w", t.Slug, err)
	}
	tmp := out.Name() + "-replica"
	if err := rep.Restore(ctx, replica.TenantName(t.ID), tmp, at); err != nil {
		_ = os.Remove(tmp) // nothing is left on failure; this is only in case
		if errors.Is(err, replica.ErrNotFound) {
			when := "any time"
			if !at.IsZero() {
				when = at.UTC().Format(time.RFC3339)
			}
			return fail(fmt.Errorf("the replica holds no copy of it as of %s (it holds what was opened while replication was on, within its retention): %w",
				when, tenancy.ErrNotFound))
		}
		return fail(err)
	}
	adopted, err := tenancy.AdoptScratch(tmp, reserved.Name())
	if err != nil {
		_ = os.Remove(tmp) // the lock's or rename's error is the one to report
		return fail(err)
	}
	_ = reserved.Close() // the empty file it reserved the name with, replaced by the copy
	out = adopted
	version, err := fileSchemaVersion(ctx, out.Name())
	if err != nil {
		return fail(err)
	}
	return out, version, nil
}

// fileSchemaVersion reads the schema version of the database file at path (checked already).
func fileSchemaVersion(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite3", tenancy.FileURL(path)+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }() // read only
	var v int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the copy's schema version: %w", err)
	}
	return v, nil
}

// VerifyReplicaCopy restores t's newest copy in the replica into a scratch file beside its
// database (named after the tenant, so erasure finds it) and checks it with integrity_check,
// then removes it: the replication chain itself is tested, not only the live file. It returns
// tenancy.ErrNotFound when the replica holds no copy of t.
func (s *Service) VerifyReplicaCopy(ctx context.Context, rep ReplicaSource, t tenancy.Tenant) error {
	download, _, err := s.fetchReplica(ctx, rep, t, time.Time{})
	if err != nil {
		return err
	}
	download.Remove()
	return nil
}
