package replica

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Epochs (cluster mode, issue #23). A business's owner in epoch e ships its commits under
// TenantEpochName(id, e), so an old owner that has not noticed it was replaced can never write
// into its successor's chain; the successor claims e by creating the marker EpochMarker(id, e)
// with a conditional create (CreateMarker: at most one creator wins), and an owner checks,
// before it acknowledges a write, that the marker of e+1 does not exist (MarkerExists). A
// single node has no epochs: it is epoch 0, whose name is TenantName(id), so the layout of a
// single node's replica is unchanged, and a cluster can restore from it. Everything lives
// under TenantName(id), so Delete(TenantName(id)) erases every epoch and marker.
//
// Layout under the replica URL, for a business id:
//
//	tenants/<id>/ltx/<level>/…         epoch 0 (a single node)
//	tenants/<id>/ltx/e<e>/…            epoch e ≥ 1 (its own LTX chain below)
//	tenants/<id>/epoch/<e>             the marker of epoch e, empty
//
// (The chain of an epoch holds the same layout as a name's: ltx/<level>/… on S3, ltx/<level>/
// in a directory for file://. Level directories are digits, so e<e> never meets one.)

// ErrExists means a conditional create lost: the object was there already.
var ErrExists = errors.New("already exists in the replica")

// TenantEpochName is the name tenant id's database is replicated under in epoch e: TenantName
// for epoch 0.
func TenantEpochName(id string, epoch uint64) string {
	if epoch == 0 {
		return TenantName(id)
	}
	return TenantName(id) + "/ltx/e" + strconv.FormatUint(epoch, 10)
}

// EpochMarker is the key of the marker that epoch e of tenant id was claimed.
func EpochMarker(id string, epoch uint64) string { return Marker(TenantName(id), epoch) }

// Marker is the key of the marker that epoch e of base (TenantName(id), RegistryName) was
// claimed.
func Marker(base string, epoch uint64) string {
	return base + "/epoch/" + strconv.FormatUint(epoch, 10)
}

// CreateMarker creates the empty object key, only if nothing is stored at key (S3's
// If-None-Match: *, an exclusive create for file://). ErrExists when it was there: someone
// else created it first. The store must be strongly consistent for this to fence anything.
func (r *Replicator) CreateMarker(ctx context.Context, key string) error {
	if err := checkName(key); err != nil {
		return err
	}
	if r.target.scheme == "file" {
		p := filepath.Join(r.target.dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("create marker %s: %w", key, err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create marker %s: %w", key, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create marker %s: %w", key, err)
		}
		if err := f.Sync(); err != nil {
			return errors.Join(fmt.Errorf("create marker %s: %w", key, err), f.Close())
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("create marker %s: %w", key, err)
		}
		return nil
	}
	w, err := r.bucket.NewWriter(ctx, r.target.prefix+key, &gcblob.WriterOptions{
		ContentType: "application/octet-stream", IfNotExist: true,
	})
	if err != nil {
		return fmt.Errorf("create marker %s: %w", key, err)
	}
	err = w.Close()
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return fmt.Errorf("create marker %s: %w", key, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create marker %s in %s: %w", key, r.target.redact, err)
	}
	return nil
}

// MarkerExists reports whether an object is stored at key (a HEAD). An error means it cannot
// be told: never read it as "absent".
func (r *Replicator) MarkerExists(ctx context.Context, key string) (bool, error) {
	if err := checkName(key); err != nil {
		return false, err
	}
	if r.target.scheme == "file" {
		_, err := os.Stat(filepath.Join(r.target.dir, filepath.FromSlash(key)))
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("check marker %s: %w", key, err)
		}
		return true, nil
	}
	ok, err := r.bucket.Exists(ctx, r.target.prefix+key)
	if err != nil {
		return false, fmt.Errorf("check marker %s in %s: %w", key, r.target.redact, err)
	}
	return ok, nil
}

// RestoreLatestEpoch restores base (TenantName(id), RegistryName) into the new file dst from the newest epoch ≤ upTo
// whose chain holds a copy, walking back over empty ones (an owner that claimed an epoch and
// died before its first sync left nothing there; restoring that "copy" would lose every
// acknowledged write before it). It returns the epoch restored from; ErrNotFound when no
// epoch down to 0 holds anything.
func (r *Replicator) RestoreLatestEpoch(ctx context.Context, base string, upTo uint64, dst string) (uint64, error) {
	return r.restoreWalk(ctx, base, upTo, dst, time.Time{})
}
