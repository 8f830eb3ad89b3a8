package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/internal/shutdown"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// serveFlags are the flags of serve beyond the common ones.
type serveFlags struct {
	addr      *string
	secure    *bool
	mail      mailSettings
	debugAddr *string
	proxies   ratelimit.Proxies
	// maxBuffered is the most bytes of request bodies buffered at once (web.BodyBudget).
	maxBuffered *int64
	cluster     *clusterFlags
}

// cmdServe runs the web server and the job scheduler until ctx ends, then shuts both down.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	f, err := parseServeFlags(&cfg, args, stderr)
	if err != nil {
		return err
	}
	cfg.spares = 4 // sign-ups claim a ready database instead of copying one
	cfg.create = true
	cfg.replicaAttach = true
	serverGC()
	// A busy business still gets one core less than the machine has, not one share less.
	cfg.fairShare = max(1, serverProcs()-1)
	unlock, err := lockDataDir(cfg.data)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := tightenModes(cfg.data); err != nil {
		return fmt.Errorf("make the data directory private: %w", err)
	}
	var member *clusterMember // set once the node has joined, before HTTP serves
	if *f.cluster.on {
		cfg.writeFence = func(ctx context.Context, id string) error {
			if member == nil {
				return errors.New("this node has not joined the cluster")
			}
			return member.writeFence(ctx, id)
		}
		cfg.replicaName = func(name string) string {
			if member == nil {
				return name
			}
			return member.replicaName(name)
		}
		cfg.restoreMissing = func(ctx context.Context, t tenancy.Tenant, dst string) error {
			if member == nil {
				return errors.New("this node has not joined the cluster")
			}
			return member.restoreMissing(ctx, t, dst)
		}
		cfg.clusterRegistry = func(reg *tenancy.SQLiteRegistry) tenancy.Registry {
			return clusterRegistry{SQLiteRegistry: reg, member: func() *clusterMember { return member }}
		}
	}
	var p *platform
	met := metrics.New(func() float64 { return float64(p.tenants.Stats().Open) },
		func() float64 { return float64(p.tenants.Stats().Idle) })
	cfg.onMigrate = func(_ tenancy.Tenant, _, _ int, err error) { met.Migration(err != nil) }
	p, err = openPlatform(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if p.replica != nil {
		met.Replication(func() metrics.ReplicaTotals {
			t := p.replica.Totals()
			return metrics.ReplicaTotals{Attached: t.Attached, MaxLag: t.MaxLag, BytesShipped: t.BytesShipped}
		})
	}
	defer func() { _ = p.close() }() // for early returns: the clean path checks it below
	// Businesses whose file is gone or empty show as failed from the start, not when a
	// customer first meets them.
	if _, err := p.tenants.MarkMissingFiles(ctx); err != nil {
		return fmt.Errorf("check tenant databases: %w", err)
	}
	if *f.mail.baseURL == "" {
		*f.mail.baseURL = "http://" + *f.addr
	}
	mailCfg, err := f.mail.config(cfg.data)
	if err != nil {
		return err
	}
	jcfg := jobs.Config{Mail: mailCfg, Blobs: p.blobs}
	if *f.cluster.on { // each business's jobs run on its owner only
		jcfg.Owns = func(ctx context.Context, id string) bool { return member != nil && member.owns(ctx, id) }
	}
	if p.replica != nil { // a restore from it, checked, now and then (jobs.VerifyReplica)
		jcfg.Replica = p.replica
		met.ReplicaChecks()
	}
	scheduler, err := jobs.New(p.tenants, jcfg, p.log, met)
	if err != nil {
		return err
	}
	// A cluster node makes no demo: each new node would make its own, with its own password,
	// and the cluster keeps one registry (its controller's). Sign up on any node instead.
	demoLogin := ""
	if !*f.cluster.on {
		if demoLogin, err = createDemoOnFirstRun(ctx, p); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *f.addr, err)
	}
	ws := newWebServer(p, cfg, f, scheduler, met)
	if *f.cluster.on {
		if member, err = joinCluster(ctx, f.cluster, cfg.data, ln.Addr(), p.tenants, p.replica, p.reg, p.log); err != nil {
			return err
		}
		defer member.leave()
		met.Cluster(member.totals)
		ws.Fence = member.fence
		ws.FindBusinesses = member.findBusinesses
	}
	h := ws.Handler()
	if member != nil {
		h = member.handler(h) // a business owned by another node is served there
	}
	srv := newHTTPServer(h)
	announce(ctx, stdout, p, "http://"+ln.Addr().String(), demoLogin)
	if *f.debugAddr != "" {
		stop, err := serveProfiler(*f.debugAddr, p.log)
		if err != nil {
			return err
		}
		defer func() { _ = stop() }() // ends the profiler's server
	}

	scheduler.Start()
	// Before the tenant databases close (defers run last-in first-out), for early returns:
	// serveUntilDone stops it on the clean path and reports its error.
	defer func() { _ = scheduler.Shutdown() }()
	var drain func(context.Context)
	if member != nil { // hand this node's businesses to the others before they close
		drain = func(ctx context.Context) { member.drain(ctx) }
	}
	return serveUntilDone(ctx, p, srv, ln, scheduler, drain)
}

// parseServeFlags parses serve's flags, the common ones into cfg.
func parseServeFlags(cfg *config, args []string, stderr io.Writer) (serveFlags, error) {
	fs := newFlags("serve", cfg, stderr, "Runs the web server until SIGINT or SIGTERM, then finishes the requests in flight\nand closes every tenant database.")
	f := serveFlags{
		addr:      fs.String("addr", "127.0.0.1:8080", "listen address host:port (RESERVA_ADDR)"),
		secure:    fs.Bool("secure-cookies", false, "mark session cookies Secure: clients reach Reserva over TLS (RESERVA_SECURE_COOKIES)"),
		mail:      mailFlags(fs),
		debugAddr: fs.String("debug-addr", "", "serve Go's profiler (/debug/pprof) on this address, e.g. 127.0.0.1:6060 (RESERVA_DEBUG_ADDR; default off)"),
		maxBuffered: fs.Int64("max-buffered-bytes", web.DefaultMaxBufferedBytes, "most bytes of request bodies held in memory at once; requests beyond wait briefly,\n"+
			"then get 503 (RESERVA_MAX_BUFFERED_BYTES)"),
		cluster: addClusterFlags(fs),
	}
	fs.StringVar(&cfg.replicaAck, "replica-ack", "sync", "with --replica: sync answers a write once the replica holds it; async at once, shipping within\n"+
		"about a second (RESERVA_REPLICA_ACK)")
	fs.Func("trusted-proxies", "comma-separated CIDRs of the reverse proxies in front of Reserva: only requests from them have\n"+
		"their X-Forwarded-For (or Forwarded) client believed, for per-address limits (RESERVA_TRUSTED_PROXIES; default none)",
		func(v string) (err error) { f.proxies, err = ratelimit.ParseProxies(v); return err })
	if err := parse(fs, args); err != nil {
		return f, err
	}
	if *f.maxBuffered <= 0 {
		return f, fmt.Errorf("%w: --max-buffered-bytes must be positive", errUsage)
	}
	return f, f.cluster.check(cfg.replica, cfg.replicaAck)
}

// createDemoOnFirstRun creates the demo business in a data directory made by this run, and
// returns how to sign in to its dashboard ("" when the directory was not new).
func createDemoOnFirstRun(ctx context.Context, p *platform) (login string, err error) {
	if !p.newData {
		return "", nil
	}
	_, password, err := createBusiness(ctx, p, newBusiness{
		NewTenant: tenancy.NewTenant{Slug: "demo", Name: "Demo Studio", Timezone: "Europe/Madrid"},
		Demo:      true, OwnerEmail: "owner@demo.example",
	})
	if err != nil {
		return "", fmt.Errorf("create demo business: %w", err)
	}
	return "owner@demo.example with the password " + password, nil
}

// newWebServer wires the web server to the platform, the scheduler (for /readyz) and metrics.
func newWebServer(p *platform, cfg config, f serveFlags, scheduler *jobs.Scheduler, met *metrics.Metrics) *web.Server {
	registryCheck := cachedCheck(p.reg.Check, registryCheckEvery, time.Now)
	return &web.Server{
		Tenants: p.tenants,
		GraphQL: graph.NewHandler(p.log),
		Log:     p.log,
		Ready: func(ctx context.Context) error {
			if !scheduler.Running() {
				return errors.New("job scheduler is not running")
			}
			return registryCheck(ctx) // the registry's pages, not only that it answers
		},
		Failed: func(ctx context.Context) ([]string, error) {
			ts, err := p.reg.Failed(ctx)
			slugs := make([]string, len(ts))
			for i, t := range ts {
				slugs[i] = t.Slug
			}
			return slugs, err
		},
		Metrics:        met,
		SecureCookies:  *f.secure,
		Blobs:          p.blobs,
		FairShare:      web.FairShare{N: cfg.fairShare},
		BodyBudget:     web.BodyBudget{Bytes: *f.maxBuffered},
		TrustedProxies: f.proxies,
	}
}

// newHTTPServer serves h with a time limit on every phase of a request. Its Shutdown also
// reaches the websockets (which it does not wait for): they close with 1001 and give their
// business's lease back, so the tenant databases can close.
func newHTTPServer(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	shutdown.Notify(srv)
	return srv
}

// announce tells the operator where Reserva runs, and the demo business's addresses.
func announce(ctx context.Context, stdout io.Writer, p *platform, url, demoLogin string) {
	fmt.Fprintf(stdout, "Reserva is running at %s\n", url)
	if p.newData && demoLogin == "" {
		fmt.Fprintf(stdout, "Sign up a business: %s/signup\n", url)
	}
	if _, err := p.tenants.Registry().BySlug(ctx, "demo"); err == nil {
		fmt.Fprintf(stdout, "Open the demo business: %s/demo\n", url)
	}
	if demoLogin != "" {
		fmt.Fprintf(stdout, "Its dashboard: %s/demo/admin (sign in as %s)\n", url, demoLogin)
	}
}

// serveProfiler serves Go's profiler on its own listener, never on the public address, until
// stop.
func serveProfiler(addr string, log *slog.Logger) (stop func() error, err error) {
	dln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	dmux := http.NewServeMux()
	dmux.HandleFunc("/debug/pprof/", pprof.Index)
	dmux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dmux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(dln, dmux); !errors.Is(err, net.ErrClosed) {
			log.Error("profiler server", "err", err)
		}
	}()
	return dln.Close, nil
}

// serveUntilDone serves srv on ln until ctx ends (or serving fails), then finishes the requests
// in flight, stops the scheduler and closes the tenant databases.
func serveUntilDone(ctx context.Context, p *platform, srv *http.Server, ln net.Listener, scheduler *jobs.Scheduler, drain func(context.Context)) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	p.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := scheduler.Shutdown(); err != nil {
		p.log.Error("stop jobs", "err", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if drain != nil {
		drain(sctx)
	}
	if err := p.close(); err != nil {
		return fmt.Errorf("close tenants: %w", err)
	}
	p.log.Info("stopped cleanly")
	return nil
}

// registryCheckEvery is how often /readyz runs the registry's quick_check at most: it reads the
// whole registry (stats and backup records grow with time), and probes come every few seconds.
const registryCheckEvery = 30 * time.Second

// cachedCheck returns check with its result kept for every (a failure is checked again at once,
// so recovery shows without delay).
func cachedCheck(check func(context.Context) error, every time.Duration, now func() time.Time) func(context.Context) error {
	var mu sync.Mutex
	var okAt time.Time
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !okAt.IsZero() && now().Sub(okAt) < every {
			return nil
		}
		if err := check(ctx); err != nil {
			okAt = time.Time{}
			return err
		}
		okAt = now()
		return nil
	}
}

// mailSettings are the flags of how mail goes out, shared by serve and jobs run mail.
type mailSettings struct{ smtpURL, from, baseURL *string }

func mailFlags(fs *flag.FlagSet) mailSettings {
	return mailSettings{
		smtpURL: fs.String("smtp", "", "mail server, smtp://user:password@host:587 (RESERVA_SMTP; default: write .eml files to DATA/mail)"),
		from:    fs.String("mail-from", "no-reply@reserva.invalid", "sender address of notifications (RESERVA_MAIL_FROM)"),
		baseURL: fs.String("base-url", "", "public address of the platform, for links in emails (RESERVA_BASE_URL; default http://ADDR)"),
	}
}

func (m mailSettings) config(dataDir string) (jobs.MailConfig, error) {
	mailer, err := jobs.NewMailer(*m.smtpURL, filepath.Join(dataDir, "mail"), *m.from)
	if err != nil {
		return jobs.MailConfig{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return jobs.MailConfig{Mailer: mailer, BaseURL: *m.baseURL}, nil
}

// serverGC makes the garbage collector run a quarter as often as Go's default, unless GOGC says
// otherwise. The live heap is modest (SQLite's pages live outside it), so at the default a
// little request garbage started a collection, and an export started several: collections took
// a large share of the CPU. The cost is a heap that grows to about five times the live one
// between collections; a higher GOGC did not shorten the tail further (docs/perf.md).
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// serverProcs lets twice as many threads run Go code as there are cores, unless GOMAXPROCS says
// otherwise, and returns the cores. A commit waits for the disk (fdatasync) in a system call that
// keeps its thread's share of GOMAXPROCS until the runtime's monitor takes it back, which can
// take longer than the wait itself. With one share per core, every booking's commit took half of
// a 2-core machine away from the page views and availability lookups queued behind it. With
// twice as many, the OS shares the cores among the runnable threads instead: availability's p99
// fell by about a third, and more shares gave no more (figures in docs/perf.md).
func serverProcs() (cores int) {
	cores = startingProcs()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * cores)
	}
	return cores
}

// startingProcs is GOMAXPROCS as the process started (the cores, or the container's CPU limit),
// so that serving twice in one process (the tests) does not double it twice.
var startingProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })
