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

// TestEpochs is the store's side of a claim in cluster mode: each epoch's owner ships under its
// own prefix, beside epoch 0 (a single node's layout, unchanged); the marker of an epoch is
// created by one claimant only and seen by a HEAD; a restore walks back from the newest epoch
// over an empty one (claimed, never synced) to the newest that holds a copy; Delete of the
// business erases every epoch and marker.
func TestEpochs(t *testing.T) {
	for kind, mk := range stores() {
		t.Run(kind, func(t *testing.T) {
			st := mk(t)
			ctx := context.Background()
			r := openReplica(t, st)
			const id = "epochtenantaaaaaaaaaaaaaaa"
			dir := t.TempDir()
			ship := func(epoch uint64, file string, what ...string) {
				t.Helper()
				shipFile(t, r, replica.TenantEpochName(id, epoch), filepath.Join(dir, file), what...)
			}
			restore := func(upTo uint64) (uint64, []string) {
				t.Helper()
				dst := filepath.Join(dir, "restored"+time.Now().Format("150405.000000000")+".db")
				e, err := r.RestoreLatestEpoch(ctx, replica.TenantName(id), upTo, dst)
				if err != nil {
					t.Fatalf("restore up to epoch %d: %v", upTo, err)
				}
				return e, rows(t, dst)
			}

			if _, err := r.RestoreLatestEpoch(ctx, replica.TenantName(id), 3, filepath.Join(dir, "none.db")); !errors.Is(err, replica.ErrNotFound) {
				t.Fatalf("restore of a business with no copy: %v, want ErrNotFound", err)
			}
			ship(0, "single.db", "single-node")
			if e, got := restore(2); e != 0 || strings.Join(got, ",") != "single-node" {
				t.Errorf("restore up to 2 with only epoch 0: epoch %d rows %q", e, got)
			}
			ship(1, "e1.db", "single-node", "epoch-1")
			for _, k := range st.keys(t) {
				if strings.Contains(k, ".ltx") && !strings.HasPrefix(strings.TrimPrefix(k, "backups/r1/"), "tenants/"+id+"/ltx/") {
					t.Errorf("LTX file %s outside tenants/<id>/ltx/", k)
				}
			}

			// Epoch 2 is claimed (by one claimant only), and its owner dies before a sync.
			if ok, err := r.MarkerExists(ctx, replica.EpochMarker(id, 2)); err != nil || ok {
				t.Fatalf("marker of epoch 2 before its claim: %v, %v", ok, err)
			}
			if err := r.CreateMarker(ctx, replica.EpochMarker(id, 2)); err != nil {
				t.Fatal(err)
			}
			if err := r.CreateMarker(ctx, replica.EpochMarker(id, 2)); !errors.Is(err, replica.ErrExists) {
				t.Fatalf("second claim of epoch 2: %v, want ErrExists", err)
			}
			if ok, err := r.MarkerExists(ctx, replica.EpochMarker(id, 2)); err != nil || !ok {
				t.Fatalf("marker of epoch 2 after its claim: %v, %v", ok, err)
			}
			if e, got := restore(2); e != 1 || strings.Join(got, ",") != "single-node,epoch-1" {
				t.Errorf("restore up to 2 (2 empty): epoch %d rows %q, want epoch 1", e, got)
			}
			// Epoch 0's chain is untouched by the later ones.
			if err := r.Restore(ctx, replica.TenantName(id), filepath.Join(dir, "zero.db"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			if got := rows(t, filepath.Join(dir, "zero.db")); strings.Join(got, ",") != "single-node" {
				t.Errorf("epoch 0 after epoch 1 shipped: %q", got)
			}

			if err := r.Delete(ctx, replica.TenantName(id)); err != nil {
				t.Fatal(err)
			}
			for _, k := range st.keys(t) {
				if strings.Contains(k, id) {
					t.Errorf("after Delete the replica still holds %s", k)
				}
			}
		})
	}
}
