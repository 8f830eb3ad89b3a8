package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// cmdRestore puts a backup back, in place or as a new tenant.
func cmdRestore(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("restore", &cfg, stderr, "Replaces a business's database with a backup (the replaced file is kept beside it),\nor with --into makes a new business from the backup.")
	slug := fs.String("tenant", "", "the business whose backup to restore (slug)")
	at := fs.String("at", "", "backup id (see reserva backups list; default: the newest)")
	into := fs.String("into", "", "restore into a new business with this slug instead, leaving the original alone")
	if err := parse(fs, args, "tenant"); err != nil {
		return err
	}
	if *into == "" {
		// In place: a running server holds the database open.
		unlock, err := lockDataDir(cfg.data)
		if err != nil {
			return fmt.Errorf("%w: stop the server first, or restore --into a new business", err)
		}
		defer unlock()
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
