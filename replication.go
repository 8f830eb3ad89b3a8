package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

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
	if !cfg.replicaAttach || cfg.clusterRegistry != nil {
		return rep, nil // in a cluster only the controller replicates the registry
	}
	if err := reg.Replicate(ctx, replicawire.Tenancy(rep, true)); err != nil {
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
