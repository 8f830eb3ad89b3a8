package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // every IANA zone, even on a bare machine
	"unicode/utf8"
)

// newID returns a random tenant id: 128 bits as 26 lowercase base32 characters. Ids are opaque;
// they say nothing about the tenant and spread files evenly over the two-character directories.
func newID() string { return strings.ToLower(rand.Text()) }

// NewTenant is what a business gives when it signs up.
type NewTenant struct {
	Slug     string
	Name     string
	Timezone string // IANA name, e.g. Europe/Madrid
}

// Validate checks every field and says what is wrong with each bad one.
func (n NewTenant) Validate() error {
	var errs []error
	if err := ValidateSlug(n.Slug); err != nil {
		errs = append(errs, err)
	}
	if name := strings.TrimSpace(n.Name); name == "" {
		errs = append(errs, errors.New("name is required"))
	} else if utf8.RuneCountInString(name) > 100 {
		errs = append(errs, errors.New("name must be at most 100 characters"))
	}
	if err := ValidateTimezone(n.Timezone); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateTimezone checks that tz is an IANA time zone name (the embedded tzdata knows them all).
func ValidateTimezone(tz string) error {
	if tz == "" {
		return errors.New("timezone is required (an IANA name such as Europe/Madrid)")
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" || len(tz) > 64 {
		return fmt.Errorf("timezone %q is not an IANA time zone name (such as Europe/Madrid)", tz)
	}
	return nil
}

// SetTimezone moves tenant id to time zone tz. What is stored as instants (bookings, time off)
// keeps its moment; what is wall-clock (working hours, date overrides) now reads in tz. Requests
// resolved after it returns get the new zone (the lookup cache is invalidated).
func (m *Manager) SetTimezone(ctx context.Context, id, tz string) error {
	if err := ValidateTimezone(tz); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.reg.SetTimezone(ctx, id, tz)
}

// Provision creates a tenant: it claims a spare database (or copies the pre-migrated template to
// a new file) and registers it. The tenant exists only once both are done; a failed registration
// puts the spare back or removes the file.
func (m *Manager) Provision(ctx context.Context, n NewTenant) (Tenant, error) {
	return m.ProvisionWith(ctx, n, nil)
}

// ProvisionWith creates a tenant whose database setup has filled (its owner, demo data) before
// anyone can reach it: setup runs on the new database while it is still unregistered, and only
// then is the tenant registered. Either everything is done or nothing is left: a failing setup
// or registration removes the file, and no registry row, slug or lease outlives the attempt.
// (Setup works on a locked scratch file, <id>.db.provision-*, renamed into place when it is
// done: a crash during setup leaves a scratch file that start-up removes, never a business
// without an owner. Only a crash between that rename and the registration leaves a file no
// registry row names.)
// The lease given to setup is not the Manager's: setup must not keep it, nor Release it.
func (m *Manager) ProvisionWith(ctx context.Context, n NewTenant, setup func(context.Context, *Lease) error) (Tenant, error) {
	n.Name = strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return Tenant{}, err
	}
	t := Tenant{
		Slug: n.Slug, Name: n.Name, Timezone: n.Timezone, Status: TenantActive,
		SchemaVersion: m.latest, MigrationStatus: MigrationOK, CreatedAt: m.cfg.Now().UTC(),
	}
	if setup != nil {
		return m.provisionSetUp(ctx, t, setup)
	}
	for {
		spare := true
		select {
		case t.ID = <-m.spares:
			select {
			case m.spareWake <- struct{}{}:
			default:
			}
		default:
			spare = false
			id, err := m.newTenantFile(ctx)
			if err != nil {
				return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, err)
			}
			t.ID = id
		}
		err := m.reg.Create(ctx, t, spare)
		if errors.Is(err, ErrSpareTaken) {
			continue // another process claimed it (its file is that tenant's now): take the next
		}
		if err != nil {
			if spare {
				m.putBackSpare(t.ID)
			} else if path, perr := m.Path(t.ID); perr == nil {
				err = errors.Join(err, removeFile(path))
			}
			return Tenant{}, err
		}
		break
	}
	m.cache.invalidate()
	return t, nil
}

// provisionSetUp is ProvisionWith with a setup: the file is taken out of the spares first (so a
// crash never hands a set-up file to the next sign-up as an empty spare), set up, then registered.
func (m *Manager) provisionSetUp(ctx context.Context, t Tenant, setup func(context.Context, *Lease) error) (Tenant, error) {
	var err error
	if t.ID, err = m.claimFile(ctx); err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, err)
	}
	path, err := m.Path(t.ID)
	if err != nil {
		return Tenant{}, err
	}
	work, done, release, err := holdForSetUp(path)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, errors.Join(err, removeDBFiles(path)))
	}
	defer release()
	if err = m.setUp(ctx, t, work, setup); err == nil {
		if err = done(); err == nil {
			err = m.reg.Create(ctx, t, false)
		}
	}
	if err != nil {
		return Tenant{}, errors.Join(err, removeDBFiles(work), removeDBFiles(path))
	}
	m.cache.invalidate()
	return t, nil
}

// claimFile takes a spare database out of the pool and the registry's spares, or copies the
// template to a new file, and returns its id. The file is the caller's, known to nobody else.
func (m *Manager) claimFile(ctx context.Context) (string, error) {
	for {
		select {
		case id := <-m.spares:
			select {
			case m.spareWake <- struct{}{}:
			default:
			}
			removed, err := m.reg.RemoveSpare(ctx, id)
			if err != nil {
				m.putBackSpare(id)
				return "", err
			}
			if !removed {
				continue // claimed by another process: its file is that tenant's now
			}
			return id, nil
		default:
			return m.newTenantFile(ctx)
		}
	}
}

// setUp opens the unregistered database at path for t and runs setup on it.
func (m *Manager) setUp(ctx context.Context, t Tenant, path string, setup func(context.Context, *Lease) error) error {
	db, err := openDB(path, openOptions{readConns: 1})
	if err != nil {
		return fmt.Errorf("open new tenant %s: %w", t.Slug, err)
	}
	err = setup(ctx, &Lease{Tenant: t, DB: db, Location: m.zone(t.Timezone)})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close new tenant %s: %w", t.Slug, cerr)
	}
	return err
}

// removeDBFiles removes a database file with its WAL and shared memory.
func removeDBFiles(path string) error {
	var errs []error
	for _, p := range []string{path + "-wal", path + "-shm", path} {
		errs = append(errs, removeFile(p))
	}
	return errors.Join(errs...)
}

// removeFile removes path; one that is gone already is no failure.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", filepath.Base(path), err)
	}
	return nil
}

// newTenantFile copies the template to the file of a new tenant id and returns the id.
func (m *Manager) newTenantFile(ctx context.Context) (string, error) {
	tmpl, err := m.templatePath(ctx)
	if err != nil {
		return "", err
	}
	id := newID()
	path, err := m.Path(id)
	if err != nil {
		return "", err
	}
	return id, copyFileDurably(tmpl, path)
}

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

// Rename gives tenant id a new slug; the old one redirects to it, and for the slug grace period
// (30 days by default) no other business can take it, as for a deleted business's slugs.
func (m *Manager) Rename(ctx context.Context, id, slug string) error {
	if err := ValidateSlug(slug); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.reg.Rename(ctx, id, slug)
}

// SetHost makes host (a custom domain, e.g. book.example.com) serve tenant id. IP addresses,
// localhost and names without a dot are refused: they would capture the platform's own traffic.
func (m *Manager) SetHost(ctx context.Context, host, id string) error {
	host = NormalizeHost(host)
	if !strings.Contains(host, ".") || strings.ContainsAny(host, "/ \\@") || net.ParseIP(host) != nil ||
		host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("host %q is not a custom domain name (such as book.example.com)", host)
	}
	defer m.cache.invalidate()
	return m.reg.SetHost(ctx, host, id)
}

// RemoveHost stops host from serving tenant id.
func (m *Manager) RemoveHost(ctx context.Context, host, id string) error {
	defer m.cache.invalidate()
	return m.reg.RemoveHost(ctx, NormalizeHost(host), id)
}

// Delete erases tenant id: it waits for in-flight work on it, closes its database, removes
// every file of it in the data directory (database, -wal, -shm, restore safety copies, scratch
// copies of interrupted backups, restores and exports, its mail folder: see the inventory in
// files.go), its blobs and backups, then removes it from the registry (leaving a tombstone that
// holds the slug for a grace period). Files go first: if Delete is interrupted, running it again
// finishes the job, and no registry row is ever left pointing at half a tenant that looks fine.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if _, err := m.Path(id); err != nil {
		return err
	}
	defer m.cache.invalidate()
	return m.Exclusive(ctx, id, func() error {
		m.mu.Lock()
		delete(m.seen, id)
		delete(m.faulted, id)
		m.mu.Unlock()
		if err := m.eraseFiles(id); err != nil {
			return fmt.Errorf("delete tenant %s: %w", id, err)
		}
		// Erasure covers every copy: blobs (uploads) and backups too, and the replica.
		if m.cfg.Blobs != nil {
			if _, err := m.cfg.Blobs.DeletePrefix(ctx, id+"/"); err != nil {
				return fmt.Errorf("delete tenant %s: %w", id, err)
			}
		}
		if err := m.deleteReplica(ctx, id); err != nil {
			return err
		}
		return m.reg.Delete(ctx, id) // with its backup records and stats
	})
}

// MigrateResult is what MigrateAll did to one tenant.
type MigrateResult struct {
	Tenant Tenant
	Err    error
}

// MigrateAll brings every tenant whose registry record is behind (or failed) to the latest
// schema, with at most workers at a time, and reports each result to progress (which may be nil).
// It returns the failures.
func (m *Manager) MigrateAll(ctx context.Context, workers int, progress func(done, total int, r MigrateResult)) ([]MigrateResult, error) {
	return m.Migrate(ctx, workers, func(t Tenant) bool {
		return t.SchemaVersion < m.latest || t.MigrationStatus != MigrationOK
	}, progress)
}

// Migrate opens (and so migrates) every tenant for which want returns true, with at most workers
// at a time; the handle cap bounds how many are open. One tenant's failure never stops the
// others: it is reported to progress and returned.
func (m *Manager) Migrate(ctx context.Context, workers int, want func(Tenant) bool, progress func(done, total int, r MigrateResult)) ([]MigrateResult, error) {
	all, err := m.reg.List(ctx)
	if err != nil {
		return nil, err
	}
	var todo []Tenant
	for _, t := range all {
		if want(t) {
			todo = append(todo, t)
		}
	}
	jobs := make(chan Tenant)
	results := make(chan MigrateResult, len(todo)) // workers never block on a reader that left
	for range max(workers, 1) {
		go func() {
			for t := range jobs {
				err := m.Visit(ctx, t, func(*Lease) error { return nil }) // opening migrates
				results <- MigrateResult{Tenant: t, Err: err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, t := range todo {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	var failed []MigrateResult
	for done := 1; done <= len(todo); done++ {
		var r MigrateResult
		select {
		case r = <-results:
		case <-ctx.Done():
			return failed, ctx.Err()
		}
		if r.Err != nil {
			failed = append(failed, r)
		}
		if progress != nil {
			progress(done, len(todo), r)
		}
	}
	return failed, nil
}

// NormalizeHost is host as custom hosts are stored: lower case, without port or trailing dot.
func NormalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i] // drop the port
	}
	return strings.TrimSuffix(h, ".")
}

// ForEachOpen runs fn on a lease of every tenant whose database is open right now (the active
// ones), one at a time; a tenant that fails is logged and the others go on. The failures are
// returned joined, each naming its tenant, so that a job reports a run with a failing tenant
// as failed rather than done.
func (m *Manager) ForEachOpen(ctx context.Context, fn func(*Lease) error) (done int, err error) {
	m.mu.Lock()
	var ids []string
	for id, e := range m.entries {
		if e.db != nil {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	var failed []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		t, err := m.reg.Get(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		l, err := m.AcquireBounded(ctx, t)
		if err != nil {
			m.cfg.Logger.ErrorContext(ctx, "open tenant for maintenance", "tenant", t.Slug, "err", err)
			failed = append(failed, fmt.Errorf("tenant %s: open: %w", t.Slug, err))
			continue
		}
		err = fn(l)
		if IsCorrupt(err) {
			m.fault(ctx, t, err)
		}
		l.Release()
		if err != nil {
			if ctx.Err() != nil {
				return done, ctx.Err() // stopped (a shutdown), not this tenant's failure
			}
			m.cfg.Logger.ErrorContext(ctx, "tenant maintenance", "tenant", t.Slug, "err", err)
			failed = append(failed, fmt.Errorf("tenant %s: %w", t.Slug, err))
			continue
		}
		done++
	}
	return done, errors.Join(failed...)
}
