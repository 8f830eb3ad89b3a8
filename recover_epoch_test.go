package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// A replica written by a cluster holds each business's newest commits in the chain of the
// epoch it was last claimed in, not in epoch 0's: acme was served by a single node (epoch 0),
// then claimed in epoch 1 by a node that died before its first sync (an empty epoch), then in
// epoch 2, which shipped more; newco was made in the cluster (epoch 1 only, nothing in 0).
// recover --eager, restore --from-replica and the replica check all read the newest epoch
// that holds a copy.
func TestCLIRecoverFromClusterEpochs(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	rurl := "file://" + filepath.Join(t.TempDir(), "replica")
	for _, slug := range []string{"acme", "newco"} {
		if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", slug, "--name", slug); code != 0 {
			t.Fatalf("create %s: %q %q", slug, out, errOut)
		}
	}
	acme, newco := tenantID(t, data, "acme"), tenantID(t, data, "newco")
	file := func(dir, id string) string { return filepath.Join(dir, "tenants", id[:2], id+".db") }

	rep, err := replica.Open(ctx, rurl, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// ship replicates a copy of the database at src under name, with a row naming what was
	// written in that epoch.
	ship := func(src, name, probe string) {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "copy.db")
		for _, suffix := range []string{"", "-wal"} {
			if err := copyFile(src+suffix, dst+suffix); err != nil && (suffix == "" || !errors.Is(err, os.ErrNotExist)) {
				t.Fatal(err)
			}
		}
		if probe != "" {
			db, err := sql.Open("sqlite3", tenancy.FileURL(dst))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS epoch_probe (what TEXT)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO epoch_probe VALUES (?)`, probe); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		h, err := rep.Attach(ctx, name, dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(ctx); err != nil { // its final sync ships everything
			t.Fatal(err)
		}
	}
	marker := func(id string, e uint64) {
		t.Helper()
		if err := rep.CreateMarker(ctx, replica.EpochMarker(id, e)); err != nil {
			t.Fatal(err)
		}
	}
	ship(filepath.Join(data, "registry.db"), replica.RegistryName, "")
	ship(file(data, acme), replica.TenantName(acme), "")
	marker(acme, 1)
	marker(acme, 2)
	ship(file(data, acme), replica.TenantEpochName(acme, 2), "epoch-2")
	marker(newco, 1)
	ship(file(data, newco), replica.TenantEpochName(newco, 1), "epoch-1")
	if err := rep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// probed counts what's row; a copy older than the probe's epoch fails on the missing table.
	probed := func(dir, id, what string) int {
		t.Helper()
		return count(t, file(dir, id), `SELECT count(*) FROM epoch_probe WHERE what = ?`, what)
	}

	dir := filepath.Join(t.TempDir(), "data")
	code, out, errOut := reserva(t, "", "recover", "--data", dir, "--replica", rurl, "--eager")
	if code != 0 || !strings.Contains(out, "Recovered the registry and 2 of 2 businesses") {
		t.Fatalf("recover --eager: %d %q %q", code, out, errOut)
	}
	if n := probed(dir, acme, "epoch-2"); n != 1 {
		t.Errorf("recovered acme holds epoch 2's write %d times, want 1 (restored a stale epoch)", n)
	}
	if n := probed(dir, newco, "epoch-1"); n != 1 {
		t.Errorf("recovered newco holds epoch 1's write %d times, want 1", n)
	}

	code, out, errOut = reserva(t, "", "jobs", "run", "replica-check", "--data", dir, "--replica", rurl)
	if code != 0 || !strings.Contains(out, "replica-check: 2 restored from the replica and verified, 0 not in the replica, 0 failed") {
		t.Errorf("jobs run replica-check: %d %q %q", code, out, errOut)
	}

	// The local copy loses epoch 2's write; restore --from-replica brings it back.
	db, err := sql.Open("sqlite3", tenancy.FileURL(file(dir, acme)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM epoch_probe`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = reserva(t, "", "restore", "--data", dir, "--replica", rurl, "--from-replica", "--tenant", "acme")
	if code != 0 || !strings.Contains(out, "Restored acme to its newest copy") {
		t.Fatalf("restore --from-replica: %d %q %q", code, out, errOut)
	}
	if n := probed(dir, acme, "epoch-2"); n != 1 {
		t.Errorf("acme restored from the replica holds epoch 2's write %d times, want 1", n)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }() // read only
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return errors.Join(err, out.Close())
	}
	return out.Close()
}
