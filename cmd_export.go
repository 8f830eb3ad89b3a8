package main

import (
	"context"
	"fmt"
	"io"

	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

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
		files, err := ops.New(p.tenants, p.blobs).Export(ctx, t, *out)
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
