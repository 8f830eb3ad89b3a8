package tenancy_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/tenancy"
)

func openTestRegistry(t *testing.T, dir string) *tenancy.SQLiteRegistry {
	t.Helper()
	r, err := tenancy.OpenRegistry(t.Context(), filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// A mirror of the registry fed with the controller's records resolves as the controller's does:
// slugs, old slugs and hosts, with stale rows in the way replaced, and forgotten tenants gone.
func TestApplyRecordMirrorsController(t *testing.T) {
	ctx := t.Context()
	ctrl, mirror := openTestRegistry(t, t.TempDir()), openTestRegistry(t, t.TempDir())
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	acme := tenancy.Tenant{ID: "acmeaaaaaaaaaaaaaaaaaaaaaa", Slug: "acme", Name: "Acme", Timezone: "Europe/Madrid",
		Status: tenancy.TenantActive, SchemaVersion: 5, MigrationStatus: tenancy.MigrationOK, CreatedAt: at}
	stale := tenancy.Tenant{ID: "staleaaaaaaaaaaaaaaaaaaaaa", Slug: "acme-new", Name: "Stale", Timezone: "UTC",
		Status: tenancy.TenantActive, MigrationStatus: tenancy.MigrationOK, CreatedAt: at}
	if err := ctrl.Create(ctx, acme, false); err != nil {
		t.Fatal(err)
	}
	if err := mirror.Create(ctx, stale, false); err != nil { // the mirror's stale idea of "acme-new"
		t.Fatal(err)
	}
	if err := ctrl.Rename(ctx, acme.ID, "acme-new"); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.SetHost(ctx, "book.acme.example", acme.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := ctrl.Record(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Tenant.Slug != "acme-new" || !slices.Equal(rec.OldSlugs, []string{"acme"}) || !slices.Equal(rec.Hosts, []string{"book.acme.example"}) {
		t.Fatalf("record %+v", rec)
	}
	if err := mirror.ApplyRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := mirror.BySlug(ctx, "acme-new"); err != nil || got.ID != acme.ID || got.SchemaVersion != 5 || !got.CreatedAt.Equal(at) {
		t.Errorf("acme-new in the mirror: %+v, %v", got, err)
	}
	if to, err := mirror.Redirect(ctx, "acme"); err != nil || to != "acme-new" {
		t.Errorf("old slug acme in the mirror: %q, %v", to, err)
	}
	if got, err := mirror.ByHost(ctx, "book.acme.example"); err != nil || got.ID != acme.ID {
		t.Errorf("host in the mirror: %+v, %v", got, err)
	}
	if _, err := mirror.Get(ctx, stale.ID); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("the stale row in the record's way: %v, want it gone", err)
	}
	// Applied twice (a watch delivers again): the same.
	if err := mirror.ApplyRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := mirror.Forget(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"acme", "acme-new"} {
		if _, err := mirror.BySlug(ctx, s); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("%s after Forget: %v", s, err)
		}
	}
	if _, err := mirror.ByHost(ctx, "book.acme.example"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("host after Forget: %v", err)
	}
}

// A new controller loads the registry restored from the replica over its own mirror: the
// restored tenants replace its own, and its spares (its own files) stay.
func TestLoadFromReplacesRegistry(t *testing.T) {
	ctx := t.Context()
	srcDir := t.TempDir()
	src, dst := openTestRegistry(t, srcDir), openTestRegistry(t, t.TempDir())
	at := time.Now().UTC()
	for id, slug := range map[string]string{"oneaaaaaaaaaaaaaaaaaaaaaaa": "one", "twoaaaaaaaaaaaaaaaaaaaaaaa": "two"} {
		if err := src.Create(ctx, tenancy.Tenant{ID: id, Slug: slug, Name: slug,
			Timezone: "UTC", Status: tenancy.TenantActive, MigrationStatus: tenancy.MigrationOK, CreatedAt: at}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Create(ctx, tenancy.Tenant{ID: "mineaaaaaaaaaaaaaaaaaaaaaa", Slug: "mine", Name: "Mine", Timezone: "UTC",
		Status: tenancy.TenantActive, MigrationStatus: tenancy.MigrationOK, CreatedAt: at}, false); err != nil {
		t.Fatal(err)
	}
	if err := dst.AddSpare(ctx, "spareaaaaaaaaaaaaaaaaaaaaa", 3); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.LoadFrom(ctx, filepath.Join(srcDir, "registry.db")); err != nil {
		t.Fatal(err)
	}
	ts, err := dst.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, tn := range ts {
		slugs = append(slugs, tn.Slug)
	}
	if !slices.Equal(slugs, []string{"one", "two"}) {
		t.Errorf("tenants after LoadFrom: %v, want one, two", slugs)
	}
	if sp, err := dst.Spares(ctx); err != nil || sp["spareaaaaaaaaaaaaaaaaaaaaa"] != 3 {
		t.Errorf("spares after LoadFrom: %v, %v", sp, err)
	}
}
