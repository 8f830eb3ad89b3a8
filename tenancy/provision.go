package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
// (Setup works on a locked scratch file, <id>.db.provision-*, renamed into place once the
// tenant is registered: a crash during setup leaves a scratch file that start-up removes, never
// a business without an owner, and one after the registration a file that start-up puts in
// place; see provision_repair.go.)
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
		select {
		case t.ID = <-m.spares:
			select {
			case m.spareWake <- struct{}{}:
			default:
			}
		default:
			return m.provisionCopy(ctx, t)
		}
		err := m.reg.Create(ctx, t, true)
		if errors.Is(err, ErrSpareTaken) {
			continue // another process claimed it (its file is that tenant's now): take the next
		}
		if err != nil {
			m.putBackSpare(t.ID)
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
	work, ready, release, err := holdForSetUp(path)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, errors.Join(err, removeDBFiles(path)))
	}
	defer release()
	if err = m.setUp(ctx, t, work, setup); err == nil {
		if err = ready(); err == nil {
			err = m.registerAndPlace(ctx, t, work, path, release)
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
