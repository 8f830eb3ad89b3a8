package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultClusterName names the NATS cluster the nodes form.
const DefaultClusterName = "reserva"

// NodeConfig configures a node's embedded NATS server.
type NodeConfig struct {
	// ID names the node; unique in the cluster. It is the NATS server name.
	ID string
	// ClusterAddr is the host:port on which the node accepts routes from its peers (port 0:
	// any free port).
	ClusterAddr string
	// Peers are the other nodes' cluster addresses, host:port.
	Peers []string
	// StoreDir holds JetStream's files. Empty: the node runs no JetStream and stores nothing
	// (it is not a voter); it still uses the buckets through its peers.
	StoreDir string
	// ClientAddr is the host:port on which NATS clients connect; empty: a free loopback port.
	// Only this process may connect: its users' passwords are random, made at start.
	ClientAddr string
	// ClusterName defaults to DefaultClusterName.
	ClusterName string
	// PingInterval defaults to DefaultPingInterval.
	PingInterval time.Duration
	// Logger receives the server's warnings and errors (and notices at debug level); nil:
	// the server logs nothing.
	Logger *slog.Logger
}

// Node is a running embedded NATS server.
type Node struct {
	cfg NodeConfig
	srv *server.Server
	// app and system are the passwords of the node's two users: the one the cluster's
	// buckets and subjects belong to, and the system account's (which alone may ask the
	// meta group's leader to step down).
	app, system string
}

// The node's NATS users.
const (
	appUser    = "reserva"
	systemUser = "system"
)

// StartNode starts the node's NATS server and waits (until ctx ends) until it accepts
// connections. JetStream, when on, syncs every write to disk before acknowledging it
// (SCALEOUT.md: Jepsen lost acknowledged writes with the default two-minute sync).
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.ID == "" {
		return nil, errors.New("start NATS: the node needs an id")
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	chost, cport, err := splitHostPort(cfg.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("start NATS: cluster address: %w", err)
	}
	// Routes wait for the client listener, so there always is one; random passwords keep
	// everyone but this process out of it. The application's user is in the global account
	// (where the buckets have always been); the system user in the system account.
	sys := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	app, system := rand.Text(), rand.Text()
	opts := &server.Options{
		ServerName:    cfg.ID,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Accounts:      []*server.Account{sys},
		SystemAccount: server.DEFAULT_SYSTEM_ACCOUNT,
		Users: []*server.User{
			{Username: appUser, Password: app},
			{Username: systemUser, Password: system, Account: sys},
		},
		NoSigs:       true,
		NoLog:        cfg.Logger == nil,
		PingInterval: cfg.PingInterval,
		MaxPingsOut:  2,
		Cluster: server.ClusterOpts{
			Name:         cfg.ClusterName,
			Host:         chost,
			Port:         cport,
			PingInterval: cfg.PingInterval,
			MaxPingsOut:  2,
		},
	}
	if cfg.ClientAddr != "" {
		if opts.Host, opts.Port, err = splitHostPort(cfg.ClientAddr); err != nil {
			return nil, fmt.Errorf("start NATS: client address: %w", err)
		}
	}
	for _, p := range cfg.Peers {
		if _, _, err := splitHostPort(p); err != nil {
			return nil, fmt.Errorf("start NATS: peer %q: %w", p, err)
		}
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: p})
	}
	if cfg.StoreDir != "" {
		opts.JetStream = true
		opts.StoreDir = cfg.StoreDir
		opts.SyncAlways = true
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	// Always a logger: its Fatalf is how the server reports what stops it from starting (a
	// cluster port taken), which would otherwise leave the wait below running for good.
	logger := natsLogger{log: slog.New(slog.DiscardHandler), fatal: &atomic.Pointer[string]{}}
	if cfg.Logger != nil {
		logger.log = cfg.Logger.With("node", cfg.ID)
	}
	srv.SetLoggerV2(logger, false, false, false)
	srv.Start()
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if msg := logger.fatal.Load(); msg != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("start NATS: %s", *msg)
		}
		if ctx.Err() != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("start NATS: not ready: %w", ctx.Err())
		}
	}
	return &Node{cfg: cfg, srv: srv, app: app, system: system}, nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// ClusterAddr returns the address the node accepts routes on (with the port chosen, when the
// configuration said 0).
func (n *Node) ClusterAddr() string {
	if a := n.srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// IsMetaLeader says whether this node leads JetStream's meta group (the one that places
// streams and consumers; while it is elected, no watch can start).
func (n *Node) IsMetaLeader() bool { return n.srv.JetStreamIsLeader() }

// IsStreamLeader says whether this node leads the stream's group.
func (n *Node) IsStreamLeader(stream string) bool {
	return n.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream)
}

// Connect opens an in-process client connection to the node's server. Its pings are as
// frequent as the routes', so a stalled server is noticed within seconds.
func (n *Node) Connect() (*nats.Conn, error) {
	return n.connect(appUser, n.app)
}

func (n *Node) connect(user, password string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(n.srv), nats.UserInfo(user, password), nats.Name(n.cfg.ID),
		nats.PingInterval(n.cfg.PingInterval), nats.MaxPingsOutstanding(2),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS node %s: %w", n.cfg.ID, err)
	}
	return nc, nil
}

// Shutdown stops the server at once (its client connections close).
func (n *Node) Shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// natsLogger sends the NATS server's log to slog. Its notices are routine (routes connecting,
// elections) and go to debug. fatal keeps the first fatal error.
type natsLogger struct {
	log   *slog.Logger
	fatal *atomic.Pointer[string]
}

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Plaintext passwords detected") {
		// The node's users are its own process's, with random passwords made at start and
		// given over in memory: nothing for an operator to act on.
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}
func (l natsLogger) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(string, ...any)          {}

// Fatalf logs and keeps the error for StartNode: the server's own logger would exit the
// process, which is not a library's call.
func (l natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.fatal.CompareAndSwap(nil, &msg)
	l.log.Error(msg, "fatal", true)
}

// LeaderStreams are the streams of the cluster's buckets, whose leaders KeepLeaders gathers.
var LeaderStreams = []string{"KV_" + BucketLiveness, "KV_" + BucketPlacement, "KV_" + BucketRoutes, "KV_" + BucketController}

// KeepLeaders gathers the leadership of JetStream's meta group and of streams on one node,
// checking at once and then every interval until ctx ends. homes names the nodes that may
// lead, in order of preference (none: leave the leaders be); a node that refuses them all (one
// still catching up after a restart) makes way for the next. The controller runs it (homes
// is empty elsewhere).
//
// A JetStream group whose leader is lost has none until a follower's election timer fires, 4
// to 9 s later (fixed in nats-server); meanwhile its bucket takes no write, and no watch can
// start without the meta group's leader. With the leaders spread over the nodes, nearly every
// node's loss stopped the survivors' heartbeats (the liveness bucket's leader) or watches (the
// meta group's) until an election, and the failover of its businesses waited for it. Gathered
// on one node, the loss of any other waits only for its liveness key to expire.
func (n *Node) KeepLeaders(ctx context.Context, homes func() []string, streams []string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, h := range homes() {
			moved, err := n.GatherLeaders(ctx, h, streams)
			if len(moved) > 0 {
				log.Info("JetStream's leaders moved", "node", n.cfg.ID, "to", h, "groups", moved)
			}
			if err == nil || len(moved) > 0 || ctx.Err() != nil {
				break
			}
			log.Debug("gather JetStream's leaders", "node", n.cfg.ID, "on", h, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MetaLeader names the node that leads JetStream's meta group, as this node knows it ("": none
// or not known).
func (n *Node) MetaLeader() string {
	info, err := n.srv.Jsz(nil)
	if err != nil || info.Meta == nil {
		return ""
	}
	return info.Meta.Leader
}

// GatherLeaders asks the leader of JetStream's meta group and of each stream, where node home
// does not lead it, to hand it over to home, and returns the groups whose leader agreed.
func (n *Node) GatherLeaders(ctx context.Context, home string, streams []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	app, err := n.Connect()
	if err != nil {
		return nil, err
	}
	defer app.Close()
	var moved []string
	var errs []error
	ask := func(nc *nats.Conn, subject, group string) {
		req := fmt.Appendf(nil, `{"placement":{"preferred":%q}}`, home)
		msg, err := nc.RequestWithContext(ctx, subject, req)
		if err != nil {
			errs = append(errs, fmt.Errorf("move the leader of %s: %w", group, err))
			return
		}
		var resp struct {
			Success bool `json:"success"`
			Error   *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		switch err := json.Unmarshal(msg.Data, &resp); {
		case err != nil:
			errs = append(errs, fmt.Errorf("move the leader of %s: %w", group, err))
		case resp.Error != nil:
			errs = append(errs, fmt.Errorf("move the leader of %s: %s", group, resp.Error.Description))
		case resp.Success:
			moved = append(moved, group)
		}
	}
	if n.MetaLeader() != home {
		// Only the system account may ask this one.
		sys, err := n.connect(systemUser, n.system)
		if err != nil {
			return nil, err
		}
		ask(sys, "$JS.API.META.LEADER.STEPDOWN", "the meta group")
		sys.Close()
	}
	js, err := jetstream.New(app)
	if err != nil {
		return moved, errors.Join(append(errs, err)...)
	}
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("leader of %s: %w", name, err))
			continue
		}
		if c := s.CachedInfo().Cluster; c != nil && c.Leader != home {
			ask(app, "$JS.API.STREAM.LEADER.STEPDOWN."+name, name)
		}
	}
	return moved, errors.Join(errs...)
}
