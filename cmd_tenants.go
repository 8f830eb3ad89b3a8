package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/reserva/reserva/tenancy"
)

func cmdTenants(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenants needs a subcommand: create, list, rename, host or delete", errUsage)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	var cfg config
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		fs := newFlags("tenants create", &cfg, stderr, "Creates a business with its own database.")
		slug := fs.String("slug", "", "the business's slug: its site is /SLUG (required)")
		name := fs.String("name", "", "the business's name (required)")
		tz := fs.String("timezone", "UTC", "the business's IANA time zone, e.g. Europe/Madrid")
		demo := fs.Bool("demo", false, "fill the business with demo services, staff and bookings")
		ownerEmail := fs.String("owner-email", "", "email of the business's first dashboard user (an owner)")
		ownerPassword := fs.String("owner-password", "", "their password (default: a generated one, printed once)")
		if err := parse(fs, args, "slug", "name"); err != nil {
			return err
		}
		cfg.create = true
		return withPlatform(ctx, cfg, stderr, func(p *platform) error {
			t, password, err := createBusiness(ctx, p, newBusiness{
				NewTenant: tenancy.NewTenant{Slug: *slug, Name: *name, Timezone: *tz},
				Demo:      *demo, OwnerEmail: *ownerEmail, OwnerPassword: *ownerPassword,
			})
			if err != nil {
				return err
			}
			if *ownerEmail != "" {
				fmt.Fprintf(stdout, "Owner %s can sign in at /%s/admin with the password %s\n", *ownerEmail, t.Slug, password)
			}
			fmt.Fprintf(stdout, "Created %s (%s), id %s\n", t.Slug, t.Name, t.ID)
			return nil
		})
	case "list":
		fs := newFlags("tenants list", &cfg, stderr, "Lists every business with its schema version and migration state.")
		if err := parse(fs, args); err != nil {
			return err
		}
		return withPlatform(ctx, cfg, stderr, func(p *platform) error {
			ts, err := p.reg.List(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tNAME\tTIMEZONE\tSCHEMA\tMIGRATION\tLAST SEEN\tID")
			for i, t := range ts {
				seen := "never"
				if !t.LastSeenAt.IsZero() {
					seen = t.LastSeenAt.UTC().Format(time.DateTime)
				}
				state := t.MigrationStatus
				if t.MigrationStatus == tenancy.MigrationOK && t.SchemaVersion < p.tenants.LatestVersion() {
					state = "behind"
				}
				if problem, err := p.tenants.FileProblem(t); err != nil {
					return err
				} else if problem != "" && t.MigrationStatus == tenancy.MigrationOK {
					state = "failed"
					t.MigrationStatus, t.LastError = tenancy.MigrationFailed, problem
					ts[i] = t // for the details below
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", t.Slug, t.Name, t.Timezone,
					t.SchemaVersion, p.tenants.LatestVersion(), state, seen, t.ID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, t := range ts {
				if t.MigrationStatus == tenancy.MigrationFailed {
					fmt.Fprintf(stdout, "\n%s: failed (answers 503): %s\n", t.Slug, t.LastError)
				}
			}
			fmt.Fprintf(stdout, "\n%d tenants\n", len(ts))
			return nil
		})
	case "rename":
		fs := newFlags("tenants rename", &cfg, stderr, "Gives a business a new slug. Links to the old slug redirect to the new one.")
		slug := fs.String("slug", "", "current slug (required)")
		to := fs.String("to", "", "new slug (required)")
		if err := parse(fs, args, "slug", "to"); err != nil {
			return err
		}
		return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
			if err := p.tenants.Rename(ctx, t.ID, *to); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Renamed %s to %s; /%s now redirects to /%s\n", t.Slug, *to, t.Slug, *to)
			return nil
		})
	case "host":
		fs := newFlags("tenants host", &cfg, stderr, "Serves a business's site on a custom host name (its DNS must point here).")
		slug := fs.String("slug", "", "the business's slug (required)")
		add := fs.String("add", "", "host name to serve the business on, e.g. book.example.com")
		remove := fs.String("remove", "", "host name to stop serving the business on")
		if err := parse(fs, args, "slug"); err != nil {
			return err
		}
		if (*add == "") == (*remove == "") {
			return fmt.Errorf("%w: tenants host needs one of --add or --remove", errUsage)
		}
		return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
			if *add != "" {
				if err := p.tenants.SetHost(ctx, *add, t.ID); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s now serves %s\n", *add, t.Slug)
				return nil
			}
			if err := p.tenants.RemoveHost(ctx, *remove, t.ID); err != nil {
				return fmt.Errorf("remove host %s: %w", *remove, err)
			}
			fmt.Fprintf(stdout, "%s no longer serves %s\n", *remove, t.Slug)
			return nil
		})
	case "delete":
		fs := newFlags("tenants delete", &cfg, stderr, "Erases a business: its database, and its registry entry. This cannot be undone.")
		slug := fs.String("slug", "", "slug of the business to erase (required)")
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		if err := parse(fs, args, "slug"); err != nil {
			return err
		}
		// A running server may hold the database open and keep writing to it after the files
		// are gone; only one process may own the data directory while deleting.
		unlock, err := lockDataDir(cfg.data)
		if err != nil {
			return fmt.Errorf("%w: stop the server first, or delete the business from its dashboard", err)
		}
		defer unlock()
		return withTenant(ctx, cfg, stderr, *slug, func(p *platform, t tenancy.Tenant) error {
			if !*yes {
				fmt.Fprintf(stdout, "This erases %s (%s) and all its data. Type the slug to confirm: ", t.Slug, t.Name)
				line, _ := bufio.NewReader(stdin).ReadString('\n')
				if strings.TrimSpace(line) != t.Slug {
					return errors.New("not confirmed: nothing was deleted")
				}
			}
			if err := p.tenants.Delete(ctx, t.ID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Deleted %s\n", t.Slug)
			return nil
		})
	default:
		return fmt.Errorf("%w: unknown tenants subcommand %q (create, list, rename, host, delete)", errUsage, sub)
	}
}

func withPlatform(ctx context.Context, cfg config, stderr io.Writer, fn func(*platform) error) error {
	p, err := openPlatform(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	return errors.Join(fn(p), p.close())
}

// withTenant runs fn on the tenant at slug, with a clear error when there is none.
func withTenant(ctx context.Context, cfg config, stderr io.Writer, slug string, fn func(*platform, tenancy.Tenant) error) error {
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		t, err := p.reg.BySlug(ctx, slug)
		if errors.Is(err, tenancy.ErrNotFound) {
			return fmt.Errorf("no tenant has the slug %q (see reserva tenants list)", slug)
		}
		if err != nil {
			return err
		}
		return fn(p, t)
	})
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlags("migrate", &cfg, stderr, "Brings every business whose database is behind (or whose last migration failed)\nto the latest schema now, instead of on its next request.")
	workers := fs.Int("workers", 2, "tenants migrated at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 {
		return fmt.Errorf("%w: --workers must be between 1 and 64", errUsage)
	}
	return withPlatform(ctx, cfg, stderr, func(p *platform) error {
		var bar *progressbar.ProgressBar
		failed, err := p.tenants.MigrateAll(ctx, *workers, func(_, total int, _ tenancy.MigrateResult) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("migrating"), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond))
			}
			_ = bar.Add(1) // the bar is decoration: the results are counted below
		})
		if bar != nil {
			_ = bar.Finish()
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		if bar == nil {
			fmt.Fprintf(stdout, "Every tenant is at schema version %d.\n", p.tenants.LatestVersion())
			return nil
		}
		fmt.Fprintf(stdout, "Migrated %d tenants to schema version %d; %d failed.\n",
			bar.GetMax()-len(failed), p.tenants.LatestVersion(), len(failed))
		for _, f := range failed {
			fmt.Fprintf(stdout, "  %s: %v\n", f.Tenant.Slug, f.Err)
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d tenants failed to migrate; they stay marked and unavailable until fixed (see reserva tenants list)", len(failed))
		}
		return nil
	})
}
