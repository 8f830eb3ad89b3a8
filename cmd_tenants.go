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

	"github.com/reserva/reserva/tenancy"
)

// cmdTenants runs one subcommand of `reserva tenants`, each in its own function below.
func cmdTenants(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenants needs a subcommand: create, list, rename, host or delete", errUsage)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return tenantsCreate(ctx, args, stdout, stderr)
	case "list":
		return tenantsList(ctx, args, stdout, stderr)
	case "rename":
		return tenantsRename(ctx, args, stdout, stderr)
	case "host":
		return tenantsHost(ctx, args, stdout, stderr)
	case "delete":
		return tenantsDelete(ctx, args, stdin, stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown tenants subcommand %q (create, list, rename, host, delete)", errUsage, sub)
	}
}

// tenantsCreate makes a business with its own database, and optionally its first owner.
func tenantsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
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
	// With a replica, the new business and the registry are in it before this returns, so that
	// recover finds the business even if it is never opened by a server. Only one process may
	// ship a file: a running server ships the registry itself (every commit to its file), and
	// the business once it opens it.
	replicate := false
	if cfg.replica != "" {
		if unlock, err := lockDataDir(cfg.data); err == nil {
			defer unlock()
			replicate, cfg.replicaAttach, cfg.replicaAck = true, true, "sync"
		} else {
			fmt.Fprintf(stderr, "Another reserva process (a running server?) is using %s: not replicating from here. "+
				"A server with --replica ships the registry, and the new business once it first opens it.\n", cfg.data)
		}
	}
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
		if replicate {
			if err := p.tenants.SyncTenant(ctx, t); err != nil {
				return fmt.Errorf("created %s, but the replica %s did not confirm that it holds it (until a server with "+
					"--replica opens the business, a recovery would not find it): %w", t.Slug, p.replica, err)
			}
			fmt.Fprintf(stdout, "Replicated %s and the registry to %s\n", t.Slug, p.replica)
		}
		return nil
	})
}

// tenantsList lists every business with its schema version and migration state.
func tenantsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
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
}

// tenantsRename gives a business a new slug; links to the old one redirect.
func tenantsRename(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
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
}

// tenantsHost adds or removes a custom host name of a business.
func tenantsHost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
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
}

// tenantsDelete erases a business, after the operator types its slug (or --yes).
func tenantsDelete(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg config
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
}
