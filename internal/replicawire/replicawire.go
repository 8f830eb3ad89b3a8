// Package replicawire adapts the replica package to tenancy.Replicator. tenancy must not import
// replica (it knows only its own interface), and replica knows nothing of tenancy, so the one
// adapter sits here, shared by main's wiring and the tests that replicate for real.
package replicawire

import (
	"context"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// replicator is r as tenancy sees it. Only a process that attaches (serve) ships files: one
// process ships a file, and Litestream ships every commit to it, a CLI command's too. The
// other commands use the replica to erase a deleted business.
type replicator struct {
	r      *replica.Replicator
	attach bool
	// rename, in cluster mode, gives the name a database ships under: a business's chain of
	// the epoch this node holds (replica.TenantEpochName). Nil: the name as given.
	rename func(name string) string
}

// Tenancy returns r as a tenancy.Replicator. With attach false, Attach replicates nothing
// (returns a nil Replica) and only Delete reaches r.
func Tenancy(r *replica.Replicator, attach bool) tenancy.Replicator {
	return replicator{r: r, attach: attach}
}

// Renamed is Tenancy shipping each database under rename(name) (cluster mode: the chain of the
// epoch this node holds); a nil rename keeps the names.
func Renamed(r *replica.Replicator, attach bool, rename func(name string) string) tenancy.Replicator {
	return replicator{r: r, attach: attach, rename: rename}
}

func (r replicator) Attach(ctx context.Context, name, dbPath string) (tenancy.Replica, error) {
	if !r.attach {
		return nil, nil // not replicated by this process (see tenancy.Replicator)
	}
	if r.rename != nil {
		name = r.rename(name)
	}
	h, err := r.r.Attach(ctx, name, dbPath)
	if err != nil {
		return nil, err // not a nil *Handle in a non-nil interface
	}
	return h, nil
}

func (r replicator) Delete(ctx context.Context, name string) error { return r.r.Delete(ctx, name) }
