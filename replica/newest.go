package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gcblob "gocloud.dev/blob"
)

// Reading a replica written by a cluster (issue #23). Once a business has been claimed in
// epoch e ≥ 1, its newest commits live in e's chain, not in epoch 0's: a restore that reads
// only TenantName(id) gets the copy as of the last time a single node served it (or nothing,
// for a business made in the cluster). Every reader that is not the claim itself (recover,
// restore --from-replica, the replica check) goes through RestoreNewest, which applies the
// claim's rule to the newest epoch ever claimed.

// EpochName is the name base (TenantName(id), or another name laid out the same way, such as
// an epoch-fenced registry) is replicated under in epoch e: base itself for epoch 0.
func EpochName(base string, epoch uint64) string {
	if epoch == 0 {
		return base
	}
	return base + "/ltx/e" + strconv.FormatUint(epoch, 10)
}

// NewestEpoch returns the highest epoch claimed under base: the largest n with a marker
// base/epoch/<n>; 0 when no epoch was ever claimed (a single node's replica).
func (r *Replicator) NewestEpoch(ctx context.Context, base string) (uint64, error) {
	if err := checkName(base); err != nil {
		return 0, err
	}
	var names []string
	dir := base + "/epoch"
	if r.target.scheme == "file" {
		ents, err := os.ReadDir(filepath.Join(r.target.dir, filepath.FromSlash(dir)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("list the epochs of %s: %w", base, err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
	} else {
		it := r.bucket.List(&gcblob.ListOptions{Prefix: r.target.prefix + dir + "/"})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, fmt.Errorf("list the epochs of %s in %s: %w", base, r.target.redact, err)
			}
			if !obj.IsDir {
				names = append(names, path.Base(obj.Key))
			}
		}
	}
	var top uint64
	for _, n := range names {
		if strings.HasPrefix(n, "0") || strings.HasPrefix(n, "+") {
			continue // not a marker this package wrote
		}
		if e, err := strconv.ParseUint(n, 10, 64); err == nil {
			top = max(top, e)
		}
	}
	return top, nil
}

// RestoreNewest writes base's database as of at (the zero time: its newest state) into the
// new file dst, from the newest epoch whose chain holds a copy that old, walking back from the
// newest epoch claimed over the ones that hold none (claimed, then never synced; or begun
// after at). It returns the epoch restored from; ErrNotFound when no epoch holds a copy.
func (r *Replicator) RestoreNewest(ctx context.Context, base, dst string, at time.Time) (uint64, error) {
	top, err := r.NewestEpoch(ctx, base)
	if err != nil {
		return 0, fmt.Errorf("restore %s: %w", base, err)
	}
	return r.restoreWalk(ctx, base, top, dst, at)
}

// restoreWalk restores base into dst from the newest epoch ≤ upTo holding a copy as of at.
func (r *Replicator) restoreWalk(ctx context.Context, base string, upTo uint64, dst string, at time.Time) (uint64, error) {
	for e := upTo; ; e-- {
		err := r.Restore(ctx, EpochName(base, e), dst, at)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("restore %s from epoch %d: %w", base, e, err)
		}
		if e == 0 {
			return 0, fmt.Errorf("restore %s from epochs %d to 0: %w", base, upTo, ErrNotFound)
		}
	}
}
