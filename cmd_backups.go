package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/reserva/reserva/tenancy"
)

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
