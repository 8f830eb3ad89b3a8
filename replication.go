package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// replicator is the replica package as tenancy sees it (tenancy.Replicator). Only serve
// attaches databases (attach): one process ships a file, and Litestream ships every commit to
// it, a CLI command's too. The other commands use the replica to erase a deleted business.
type replicator struct {
	r      *replica.Replicator
	attach bool
	// rename, in cluster mode, gives the name a database ships under: a business's chain of
	// the epoch this node holds (replica.TenantEpochName). Nil: the name as given.
	rename func(name string) string
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

var _ tenancy.Replicator = replicator{}

// openReplica opens the replica of --replica, if set, and attaches the registry to it.
func openReplica(ctx context.Context, cfg config, reg *tenancy.SQLiteRegistry, log *slog.Logger) (*replica.Replicator, error) {
	if cfg.replica == "" {
		return nil, nil
	}
	switch cfg.replicaAck {
	case "", "sync", "async":
	default:
		return nil, fmt.Errorf("%w: --replica-ack must be sync or async, not %q", errUsage, cfg.replicaAck)
	}
	rep, err := replica.Open(ctx, cfg.replica, replica.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if !cfg.replicaAttach {
		return rep, nil
	}
	if err := reg.Replicate(ctx, replicator{r: rep, attach: true}); err != nil {
		return nil, fmt.Errorf("replicate the registry: %w", closeReplicaAfter(err, rep))
	}
	return rep, nil
}

func closeReplicaAfter(err error, rep *replica.Replicator) error {
	if cerr := closeReplica(rep); cerr != nil {
		return fmt.Errorf("%w (closing the replica: %w)", err, cerr)
	}
	return err
}

// closeReplica closes the replicator (nil: nothing to close), after the databases it ships
// have been closed (each with its final sync).
func closeReplica(rep *replica.Replicator) error {
	if rep == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return rep.Close(ctx)
}
