package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// cmdRestore puts a backup back, in place or as a new tenant; or, with --from-replica, a
// tenant's copy in the replica (or the registry's).
func cmdRestore(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("restore", &cfg, stderr, "Replaces a business's database with a backup (the replaced file is kept beside it),\n"+
		"or with --into makes a new business from the backup. With --from-replica, the copy comes\n"+
		"from the continuous replica (--replica), as of now or of --at TIME; --registry rebuilds\n"+
		"the registry from it.")
	slug := fs.String("tenant", "", "the business whose backup to restore (slug)")
	at := fs.String("at", "", "backup id (see reserva backups list; default: the newest); with --from-replica, a time\n"+
		"within the replica's retention: 2026-12-03T14:05:00Z or \"2026-12-03 14:05:00\" (UTC)")
	into := fs.String("into", "", "restore into a new business with this slug instead, leaving the original alone")
	fromReplica := fs.Bool("from-replica", false, "restore from the replica (--replica or RESERVA_REPLICA) instead of a backup")
	registry := fs.Bool("registry", false, "with --from-replica: restore the registry (the list of businesses) instead of a business")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *registry && (!*fromReplica || *slug != "" || *into != ""):
		return fmt.Errorf("%w: restore --registry goes with --from-replica, without --tenant or --into", errUsage)
	case !*registry && *slug == "":
		return fmt.Errorf("%w: restore: --tenant is required (see reserva restore -h)", errUsage)
	case *fromReplica && cfg.replica == "":
		return fmt.Errorf("%w: restore --from-replica needs --replica URL (or RESERVA_REPLICA)", errUsage)
	}
	if *into == "" {
		// In place: a running server holds the database open.
		unlock, err := lockDataDir(cfg.data)
		if err != nil {
			return fmt.Errorf("%w: stop the server first, or restore --into a new business", err)
		}
		defer unlock()
	}
	if *fromReplica {
		return restoreFromReplica(ctx, cfg, *registry, *slug, *at, *into, stdout, stderr)
	}
	return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
		if *into != "" {
			n, err := ops.New(p.tenants, p.blobs).RestoreInto(ctx, t.ID, *at, tenancy.NewTenant{Slug: *into, Name: t.Name, Timezone: t.Timezone})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Restored %s into the new business %s (id %s)\n", t.Slug, n.Slug, n.ID)
			return nil
		}
		b, safety, err := ops.New(p.tenants, p.blobs).Restore(ctx, t, *at)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Restored %s to backup %s of %s; the replaced database is kept at %s\n",
			t.Slug, b.ID, b.CreatedAt.Format(time.DateTime), safety)
		return nil
	})
}

// restoreFromReplica is restore --from-replica: the registry, or a business in place or into a
// new one. The replica is only read: this process ships nothing to it (the server does, once
// it opens what was restored).
func restoreFromReplica(ctx context.Context, cfg config, registry bool, slug, atFlag, into string, stdout, stderr io.Writer) error {
	at, err := parseReplicaTime(atFlag)
	if err != nil {
		return err
	}
	rep, err := openReplicaSource(ctx, cfg.replica, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = closeReplica(rep) }() // nothing attached: nothing to ship
	if registry {
		safety, err := restoreRegistry(ctx, rep, cfg.data, at)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Restored the registry from %s\n", rep)
		if safety != "" {
			fmt.Fprintf(stdout, "The replaced registry is kept at %s\n", safety)
		}
		return nil
	}
	cfg.replica = ""
	return withTenant(ctx, cfg, stderr, slug, func(p *platform, t tenancy.Tenant) error {
		when := "its newest copy"
		if !at.IsZero() {
			when = "its copy as of " + at.UTC().Format(time.RFC3339)
		}
		if into != "" {
			n, err := ops.New(p.tenants, p.blobs).RestoreFromReplicaInto(ctx, rep, t, at, tenancy.NewTenant{Slug: into, Name: t.Name, Timezone: t.Timezone})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Restored %s (%s in the replica) into the new business %s (id %s)\n", t.Slug, when, n.Slug, n.ID)
			return nil
		}
		safety, err := ops.New(p.tenants, p.blobs).RestoreFromReplica(ctx, rep, t, at)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Restored %s to %s in the replica; the replaced database is kept at %s\n", t.Slug, when, safety)
		return nil
	})
}
