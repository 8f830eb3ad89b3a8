package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// cmdBackup backs up every tenant changed since its last backup, or one tenant now.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("backup", &cfg, stderr, "Backs up every business changed since its last backup (or --tenant now), verifies each copy\nand prunes old backups (--keep-daily, --keep-weekly).")
	slug := fs.String("tenant", "", "back up only this business (slug), changed or not")
	daily := fs.Int("keep-daily", jobs.DefaultKeepDaily, "keep the newest backup of each of this many days")
	weekly := fs.Int("keep-weekly", jobs.DefaultKeepWeekly, "keep the newest backup of each of this many weeks")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		if *slug != "" {
			if _, err := p.reg.BySlug(ctx, *slug); err != nil {
				return fmt.Errorf("no tenant has the slug %q (see reserva tenants list)", *slug)
			}
		}
		r, err := jobs.Backups(ctx, p.tenants, *slug, *daily, *weekly, 2)
		fmt.Fprintf(stdout, "%s\n", r)
		if err != nil && len(r.Failed) > 0 {
			return fmt.Errorf("%d backups failed: %w", len(r.Failed), err)
		}
		return err
	})
}

// cmdBackups lists a tenant's backups.
func cmdBackups(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return fmt.Errorf("%w: usage: reserva backups list --tenant SLUG", errUsage)
	}
	var cfg config
	fs := newFlags("backups list", &cfg, stderr, "Lists a business's backups, newest first.")
	slug := fs.String("tenant", "", "the business (slug)")
	if err := parse(fs, args[1:], "tenant"); err != nil {
		return err
	}
	return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
		list, err := p.reg.Backups(ctx, t.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED (UTC)\tSCHEMA\tSIZE\tVERIFIED")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", b.ID, b.CreatedAt.Format(time.DateTime), b.SchemaVersion, b.SizeBytes,
				b.VerifiedAt.Format(time.DateTime))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write the list: %w", err)
		}
		fmt.Fprintf(stdout, "\n%d backups of %s\n", len(list), t.Slug)
		return nil
	})
}

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
			n, err := ops.New(p.tenants).RestoreInto(ctx, t.ID, *at, tenancy.NewTenant{Slug: *into, Name: t.Name, Timezone: t.Timezone})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Restored %s into the new business %s (id %s)\n", t.Slug, n.Slug, n.ID)
			return nil
		}
		b, safety, err := ops.New(p.tenants).Restore(ctx, t, *at)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Restored %s to backup %s of %s; the replaced database is kept at %s\n",
			t.Slug, b.ID, b.CreatedAt.Format(time.DateTime), safety)
		return nil
	})
}

// cmdExport writes a tenant's data to a directory.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("export", &cfg, stderr, "Writes all of a business's data to a directory: dump.sql and one JSON file per table.")
	slug := fs.String("tenant", "", "the business (slug)")
	out := fs.String("out", "", "directory to write to")
	if err := parse(fs, args, "tenant", "out"); err != nil {
		return err
	}
	return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
		files, err := ops.New(p.tenants).Export(ctx, t, *out)
		if err == nil {
			err = ops.SyncExport(*out, files)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Exported %s to %s: %d files\n", t.Slug, *out, len(files))
		return nil
	})
}
