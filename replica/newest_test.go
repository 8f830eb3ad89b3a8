package replica_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/replica"
)

// TestRestoreNewest is what every reader outside a claim (recover, restore --from-replica, the
// replica check) restores once a cluster has run: writes shipped in epoch 0 (a single node),
// epoch 1 claimed and left empty (its owner died before a sync), more writes in epoch 2; the
// newest copy is epoch 2's, a point in time before epoch 2 began is epoch 0's, and the
// registry's name (no epoch claimed) reads as before.
func TestRestoreNewest(t *testing.T) {
	for kind, mk := range stores() {
		t.Run(kind, func(t *testing.T) {
			st := mk(t)
			ctx := context.Background()
			r := openReplica(t, st)
			const id = "newesttenantaaaaaaaaaaaaaa"
			dir := t.TempDir()
			ship := func(name, file string, what ...string) {
				t.Helper()
				shipFile(t, r, name, filepath.Join(dir, file), what...)
			}
			n := 0
			restore := func(base string, at time.Time) (uint64, string, error) {
				t.Helper()
				n++
				dst := filepath.Join(dir, "restored-"+strings.Repeat("x", n)+".db")
				e, err := r.RestoreNewest(ctx, base, dst, at)
				if err != nil {
					return e, "", err
				}
				return e, strings.Join(rows(t, dst), ","), nil
			}

			if _, _, err := restore(replica.TenantName(id), time.Time{}); !errors.Is(err, replica.ErrNotFound) {
				t.Fatalf("restore of a business with no copy: %v, want ErrNotFound", err)
			}
			ship(replica.TenantName(id), "single.db", "single-node")
			ship(replica.RegistryName, "registry.db", "registry-row")
			beforeCluster := time.Now()
			for _, e := range []uint64{1, 2} {
				if err := r.CreateMarker(ctx, replica.EpochMarker(id, e)); err != nil {
					t.Fatal(err)
				}
			}
			if e, err := r.NewestEpoch(ctx, replica.TenantName(id)); err != nil || e != 2 {
				t.Fatalf("newest epoch = %d, %v; want 2", e, err)
			}
			// Epoch 1 is claimed and empty; so far the newest copy is still epoch 0's.
			if e, got, err := restore(replica.TenantName(id), time.Time{}); err != nil || e != 0 || got != "single-node" {
				t.Errorf("restore with epochs 1 and 2 empty: epoch %d rows %q %v, want epoch 0", e, got, err)
			}
			ship(replica.TenantEpochName(id, 2), "e2.db", "single-node", "epoch-2")

			if e, got, err := restore(replica.TenantName(id), time.Time{}); err != nil || e != 2 || got != "single-node,epoch-2" {
				t.Errorf("newest copy: epoch %d rows %q %v, want epoch 2's", e, got, err)
			}
			if e, got, err := restore(replica.TenantName(id), beforeCluster); err != nil || e != 0 || got != "single-node" {
				t.Errorf("copy as of before epoch 2 began: epoch %d rows %q %v, want epoch 0's", e, got, err)
			}
			if e, got, err := restore(replica.RegistryName, time.Time{}); err != nil || e != 0 || got != "registry-row" {
				t.Errorf("registry: epoch %d rows %q %v", e, got, err)
			}
		})
	}
}
