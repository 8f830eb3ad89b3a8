// Command reserva is the Reserva booking platform: one binary that serves every business's site,
// dashboard and API, and runs the operator's commands on the same data directory.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/logctx"
	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Reserva: online booking for businesses, one SQLite database per business.

Usage:
  reserva serve                               run the web server
  reserva tenants create --slug S --name N    create a business (--demo: with demo data)
  reserva tenants list                        list businesses and their schema state
  reserva tenants rename --slug S --to NEW    change a business's slug (the old one redirects)
  reserva tenants host --slug S --add H       serve a business on a custom host (--remove H to stop)
  reserva tenants delete --slug S [--yes]     erase a business and all its data
  reserva migrate                             bring every business's database to the latest schema
  reserva jobs run JOB                        run one scheduled job now: sweep, housekeeping, stats, mail or replica-check
  reserva stats [--day YYYY-MM-DD]            bookings and customers per business on a day
  reserva backup [--tenant S]                 back up businesses changed since their last backup
  reserva backups list --tenant S             list a business's backups
  reserva restore --tenant S [--at ID] [--into NEW]   restore a backup (in place, or as a new business)
  reserva restore --tenant S --from-replica [--at TIME] [--into NEW]   restore from the replica
  reserva restore --registry --from-replica   rebuild a lost registry from the replica
  reserva recover --replica URL [--eager]     rebuild a lost data directory from the replica
  reserva export --tenant S --out DIR         write a business's data as SQL and JSON (GDPR export)
  reserva cluster status --peers A,B          a cluster's live nodes and how many businesses each owns
  reserva cluster move --peers A --tenant S --to N   move a business to node N (prints the pause)
  reserva cluster drain --peers A --node N [--resume]   hand N's businesses to the others; N takes no new ones

Every command takes --data DIR (RESERVA_DATA, default ./data).
Run "reserva COMMAND -h" for a command's flags.
`

// errUsage marks errors caused by how the command was called (exit status 2).
var errUsage = errors.New("usage")

// run executes one command and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Every file Reserva makes holds businesses' and customers' data (databases and their -wal
	// and -shm, which SQLite creates itself, backups, mail, exports): the operator's alone,
	// files 0600 and directories 0700, whatever umask the process was started with.
	syscall.Umask(0o077)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "tenants":
		err = cmdTenants(ctx, args[1:], stdin, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "jobs":
		err = cmdJobs(ctx, args[1:], stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout, stderr)
	case "backups":
		err = cmdBackups(ctx, args[1:], stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, args[1:], stdin, stdout, stderr)
	case "recover":
		err = cmdRecover(ctx, args[1:], stdout, stderr)
	case "export":
		err = cmdExport(ctx, args[1:], stdout, stderr)
	case "stats":
		err = cmdStats(ctx, args[1:], stdout, stderr)
	case "cluster":
		err = cmdCluster(ctx, args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("%w: unknown command %q (run \"reserva help\")", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "reserva:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "reserva:", err)
		return 1
	}
}

// config is what every command needs to reach the data. Flags override RESERVA_* variables,
// which override the defaults.
type config struct {
	data        string
	maxOpen     int
	idleTimeout time.Duration
	logLevel    slog.Level
	spares      int  // spare tenant databases kept ready (serve only)
	create      bool // make the data directory if it has no registry yet
	onMigrate   func(t tenancy.Tenant, from, to int, err error)
	blobs       string // blob store URL ("" = file://DATA/blobs)
	fairShare   int    // requests of one tenant at once (0: the web default)
	replica     string // replica URL ("" = no replication)
	replicaAck  string // "sync" (default) or "async" (serve only)
	// replicaAttach: this command replicates the databases it opens (serve); the others only
	// erase a deleted business's replica.
	replicaAttach bool
	// writeFence: serve --cluster's check before a write is acknowledged (tenancy.Config).
	writeFence func(ctx context.Context, tenantID string) error
	// replicaName: serve --cluster's name of a database in the replica (replicator.rename).
	replicaName func(name string) string
	// restoreMissing: serve --cluster's restore of a missing business file (from its epochs).
	restoreMissing func(ctx context.Context, t tenancy.Tenant, dst string) error
	// clusterRegistry: serve --cluster's registry over this node's copy (writes go to the
	// controller). The copy is not replicated when it opens: only the controller's is.
	clusterRegistry func(*tenancy.SQLiteRegistry) tenancy.Registry
}

// newFlags returns a flag set for command name with the common flags bound to cfg.
func newFlags(name string, cfg *config, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reserva %s\n\n%s\nFlags:\n", name, help)
		fs.PrintDefaults()
	}
	cfg.logLevel = slog.LevelInfo
	fs.StringVar(&cfg.data, "data", tenancy.DefaultDataDir, "data directory (RESERVA_DATA)")
	fs.IntVar(&cfg.maxOpen, "max-open-tenants", tenancy.DefaultMaxOpen, "most tenant databases open at once (RESERVA_MAX_OPEN_TENANTS)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", tenancy.DefaultIdleTimeout, "close a tenant database unused for this long (RESERVA_IDLE_TIMEOUT)")
	fs.TextVar(&cfg.logLevel, "log-level", &cfg.logLevel, "log level: debug, info, warn, error (RESERVA_LOG_LEVEL)")
	fs.StringVar(&cfg.blobs, "blobs", "", "blob store for backups and uploads: file:///dir or s3://bucket?region=... (RESERVA_BLOBS; default DATA/blobs)")
	fs.StringVar(&cfg.replica, "replica", "", "replicate every open database continuously to s3://bucket/prefix?endpoint=...&region=... or\n"+
		"file:///dir (RESERVA_REPLICA; default none)")
	return fs
}

// envFlags maps RESERVA_* variables to the flags they set.
var envFlags = map[string]string{
	"RESERVA_DATA": "data", "RESERVA_MAX_OPEN_TENANTS": "max-open-tenants",
	"RESERVA_IDLE_TIMEOUT": "idle-timeout", "RESERVA_LOG_LEVEL": "log-level", "RESERVA_ADDR": "addr",
	"RESERVA_SECURE_COOKIES": "secure-cookies", "RESERVA_BLOBS": "blobs", "RESERVA_DEBUG_ADDR": "debug-addr",
	"RESERVA_SMTP": "smtp", "RESERVA_MAIL_FROM": "mail-from", "RESERVA_BASE_URL": "base-url",
	"RESERVA_TRUSTED_PROXIES": "trusted-proxies", "RESERVA_MAX_BUFFERED_BYTES": "max-buffered-bytes",
	"RESERVA_REPLICA": "replica", "RESERVA_REPLICA_ACK": "replica-ack",
	"RESERVA_CLUSTER": "cluster", "RESERVA_NODE_ID": "node-id", "RESERVA_CLUSTER_ADDR": "cluster-addr",
	"RESERVA_PEERS": "peers",
}

// parse applies RESERVA_* variables, then args, checks that the required flags were given, and
// rejects stray arguments; every problem is a usage error.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	for env, name := range envFlags {
		if v, ok := os.LookupEnv(env); ok && fs.Lookup(name) != nil {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%w: %s=%q: %w", errUsage, env, v, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%w: %s: --%s is required (see reserva %s -h)", errUsage, fs.Name(), name, fs.Name())
		}
	}
	if f := fs.Lookup("idle-timeout"); f != nil {
		if d, _ := time.ParseDuration(f.Value.String()); d < time.Second {
			return fmt.Errorf("%w: --idle-timeout must be at least 1s", errUsage)
		}
	}
	if f := fs.Lookup("max-open-tenants"); f != nil {
		if n, _ := strconv.Atoi(f.Value.String()); n < 1 {
			return fmt.Errorf("%w: --max-open-tenants must be at least 1", errUsage)
		}
	}
	return nil
}

// platform is the opened data directory: the registry and the tenant manager.
type platform struct {
	reg      *tenancy.SQLiteRegistry
	tenants  *tenancy.Manager
	blobs    blob.Store
	log      *slog.Logger
	newData  bool                // the data directory had no registry before this start
	replica  *replica.Replicator // nil without --replica
	closeErr error
	closed   sync.Once
}

func openPlatform(ctx context.Context, cfg config, stderr io.Writer) (*platform, error) {
	log := slog.New(logctx.NewHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})))
	slog.SetDefault(log)
	path := filepath.Join(cfg.data, "registry.db")
	fi, statErr := os.Stat(path)
	if errors.Is(statErr, os.ErrNotExist) && !cfg.create {
		return nil, fmt.Errorf("no Reserva data in %s (there is no registry.db): check --data or RESERVA_DATA", cfg.data)
	}
	if err := registryMatchesTenants(cfg.data, fi, statErr); err != nil {
		return nil, err
	}
	reg, err := tenancy.OpenRegistry(ctx, path, tenancy.DefaultSlugGrace)
	if err != nil {
		return nil, err
	}
	if cfg.blobs == "" {
		if cfg.blobs, err = blob.FileURL(filepath.Join(cfg.data, "blobs")); err != nil {
			return nil, errors.Join(err, reg.Close())
		}
	}
	blobs, err := blob.Open(ctx, cfg.blobs)
	if err != nil {
		return nil, errors.Join(err, reg.Close())
	}
	rep, err := openReplica(ctx, cfg, reg, log)
	if err != nil {
		return nil, errors.Join(err, blobs.Close(), reg.Close())
	}
	tcfg := tenancy.Config{
		EraseElsewhere: ops.EraseBlobs(blobs),
		DataDir:        cfg.data, MaxOpen: cfg.maxOpen, IdleTimeout: cfg.idleTimeout, Logger: log, Spares: cfg.spares,
		OnMigrate: cfg.onMigrate, WriteFence: cfg.writeFence,
	}
	if rep != nil {
		tcfg.Replicator, tcfg.ReplicaAsync = replicawire.Renamed(rep, cfg.replicaAttach, cfg.replicaName), cfg.replicaAck == "async"
		tcfg.RestoreMissing = restoreMissingFrom(rep) // a data directory rebuilt by recover
		if cfg.restoreMissing != nil {
			tcfg.RestoreMissing = cfg.restoreMissing
		}
	}
	var treg tenancy.Registry = reg
	if cfg.clusterRegistry != nil {
		treg = cfg.clusterRegistry(reg)
	}
	m, err := tenancy.NewManager(treg, tcfg)
	if err != nil {
		return nil, errors.Join(err, blobs.Close(), reg.Close(), closeReplica(rep))
	}
	return &platform{reg: reg, tenants: m, blobs: blobs, log: log, replica: rep, newData: errors.Is(statErr, os.ErrNotExist)}, nil
}

// registryMatchesTenants refuses a registry that is missing, empty (0 bytes) or without tables
// while tenant databases exist beside it: started, it would be a new platform with every
// business answering 404 and their slugs free for strangers to sign up. (A damaged registry is
// refused when it is opened.)
func registryMatchesTenants(dataDir string, fi os.FileInfo, statErr error) error {
	var state string
	switch {
	case errors.Is(statErr, os.ErrNotExist):
		state = "is missing"
	case statErr != nil:
		return fmt.Errorf("registry: %w", statErr)
	case fi.Size() == 0:
		state = "is empty (0 bytes)"
	default:
		// A valid SQLite file without a table (made by hand, or the wrong file copied over the
		// registry) is as empty: migrated, it would be a new platform too.
		path := filepath.Join(dataDir, "registry.db")
		blank, err := tenancy.RegistryBlank(path)
		if err != nil || !blank {
			return nil // a damaged registry is refused when it is opened
		}
		state = "has no tables"
	}
	files, err := tenancy.TenantFiles(dataDir)
	if err != nil {
		return fmt.Errorf("look for tenant databases: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	return fmt.Errorf("the registry %s %s, but %s holds %d business databases: refusing to start "+
		"as a new platform. Restore registry.db from a copy (stop anything using the directory first), "+
		"or move the tenants directory away to really start afresh",
		filepath.Join(dataDir, "registry.db"), state, filepath.Join(dataDir, "tenants"), len(files))
}

// close closes every tenant database, waiting up to 30 s for work in flight. It is safe to call
// more than once.
func (p *platform) close() error {
	p.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The registry closes (final sync) before the replicator that ships it.
		p.closeErr = errors.Join(p.tenants.Close(ctx), p.blobs.Close(), p.reg.Close(), closeReplica(p.replica))
	})
	return p.closeErr
}

// tightenModes makes every file under the data directory 0600 and every directory 0700 (data
// written by releases that left them readable by other users), and returns how many it changed.
// Only the data directory: a blob store elsewhere is the operator's to set up.
func tightenModes(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (a scratch file)
			}
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm() == want {
			return nil
		}
		if err := os.Chmod(p, want); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// lockDataDir takes the data directory's process lock: one `reserva serve` at a time, and no
// erasure from the command line while a server holds tenant databases open.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "reserva.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // only held for the lock we did not get
		return nil, fmt.Errorf("another reserva process (a running server?) is using %s", dir)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock; nothing was written
}

// newBusiness is a business to create from the command line: the tenant, and optionally demo
// data and a first owner (with a generated password when none is given).
type newBusiness struct {
	tenancy.NewTenant
	Demo                      bool
	OwnerEmail, OwnerPassword string
}

// createBusiness creates b in one step (tenancy.ProvisionWith): the business with its demo data
// and owner, or nothing at all. The owner is checked with the domain's rules first. It returns
// the tenant and the owner's password.
func createBusiness(ctx context.Context, p *platform, b newBusiness) (tenancy.Tenant, string, error) {
	owner := domain.NewUser{Email: b.OwnerEmail, Name: "Owner", Role: domain.RoleOwner, Password: b.OwnerPassword}
	if b.OwnerEmail != "" {
		if owner.Password == "" {
			owner.Password = strings.ToLower(rand.Text()[:16])
		}
		if err := owner.Validate(); err != nil {
			return tenancy.Tenant{}, "", fmt.Errorf("owner: %w", err)
		}
	}
	t, err := p.tenants.ProvisionWith(ctx, b.NewTenant, func(ctx context.Context, l *tenancy.Lease) error {
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		if b.Demo {
			if err := s.SeedDemo(ctx); err != nil {
				return fmt.Errorf("seed demo data: %w", err)
			}
		}
		if b.OwnerEmail != "" {
			if _, err := s.CreateUser(ctx, owner); err != nil {
				return fmt.Errorf("create owner: %w", err)
			}
		}
		return nil
	})
	return t, owner.Password, err
}

// withPlatform runs fn on the opened platform, and closes it whatever fn returns.
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
