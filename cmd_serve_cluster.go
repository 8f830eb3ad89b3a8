package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/reserva/reserva/cluster"
)

// clusterFlags are serve's flags of cluster mode (issue #23). This part joins the node to the
// cluster (its NATS server, the shared buckets, its liveness); requests are still served by
// the node that receives them: ownership, forwarding and claims need replication (#22).
type clusterFlags struct {
	on     *bool
	nodeID *string
	addr   *string
	peers  []string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	c := &clusterFlags{
		on:     fs.Bool("cluster", false, "run as a node of a cluster (RESERVA_CLUSTER; experimental: joins the cluster, still serves every request itself)"),
		nodeID: fs.String("node-id", "", "this node's id in the cluster, unique: letters, digits, - and _ (RESERVA_NODE_ID)"),
		addr: fs.String("cluster-addr", "", "host:port on which this node meets its peers; peers reach its HTTP server on the same host\n"+
			"(RESERVA_CLUSTER_ADDR)"),
	}
	fs.Func("peers", "comma-separated host:port cluster addresses of the other nodes (RESERVA_PEERS)", func(v string) error {
		c.peers = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if _, _, err := net.SplitHostPort(p); err != nil {
					return fmt.Errorf("peer %q: %w", p, err)
				}
				c.peers = append(c.peers, p)
			}
		}
		return nil
	})
	return c
}

// check refuses cluster flags without --cluster, and --cluster without its node id and address.
func (c *clusterFlags) check() error {
	if !*c.on {
		if *c.nodeID != "" || *c.addr != "" || len(c.peers) > 0 {
			return fmt.Errorf("%w: serve: --node-id, --cluster-addr and --peers need --cluster", errUsage)
		}
		return nil
	}
	if *c.nodeID == "" || *c.addr == "" {
		return fmt.Errorf("%w: serve: --cluster needs --node-id and --cluster-addr", errUsage)
	}
	if _, _, err := net.SplitHostPort(*c.addr); err != nil {
		return fmt.Errorf("%w: serve: --cluster-addr: %w", errUsage, err)
	}
	return nil
}

// clusterMember is this node's membership: its NATS server, and its coordinator once the
// cluster has formed.
type clusterMember struct {
	node *cluster.Node
	stop context.CancelFunc
	done sync.WaitGroup
	log  *slog.Logger

	mu sync.Mutex
	co *cluster.NATSCoordinator
}

// joinCluster starts this node's NATS server (JetStream files in DATA/cluster), then, in the
// background, while HTTP already serves, its coordinator: JetStream forms once a majority of
// the nodes run, and serving must not wait for the others. The node advertises the HTTP
// address of its listener on its cluster host, and the newest tenant schema it knows.
func joinCluster(ctx context.Context, c *clusterFlags, dataDir string, httpAddr net.Addr, schema int, log *slog.Logger) (*clusterMember, error) {
	host, _, _ := net.SplitHostPort(*c.addr) // checked by check
	_, httpPort, err := net.SplitHostPort(httpAddr.String())
	if err != nil {
		return nil, fmt.Errorf("join cluster: HTTP address: %w", err)
	}
	node, err := cluster.StartNode(ctx, cluster.NodeConfig{
		ID: *c.nodeID, ClusterAddr: *c.addr, Peers: c.peers,
		StoreDir: filepath.Join(dataDir, "cluster"), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	nc, err := node.Connect()
	if err != nil {
		node.Shutdown()
		return nil, fmt.Errorf("join cluster: %w", err)
	}
	self := cluster.NodeInfo{ID: *c.nodeID, HTTP: "http://" + net.JoinHostPort(host, httpPort), Schema: schema}
	jctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m := &clusterMember{node: node, stop: stop, log: log}
	m.done.Go(func() {
		defer nc.Close()
		start := time.Now()
		co, err := cluster.NewNATSCoordinator(jctx, nc, cluster.NATSConfig{
			Self: self, Voters: 1 + len(c.peers), Log: log,
		})
		if err != nil {
			if jctx.Err() == nil {
				log.Error("join cluster", "node", self.ID, "err", err)
			}
			return
		}
		m.mu.Lock()
		m.co = co
		m.mu.Unlock()
		log.Info("joined the cluster", "node", self.ID, "http", self.HTTP, "after", time.Since(start).Round(time.Millisecond))
		<-jctx.Done()
		if err := co.Close(); err != nil {
			log.Warn("leave cluster", "node", self.ID, "err", err)
		}
	})
	return m, nil
}

// leave removes this node's liveness (so that the others see it go at once) and stops its
// NATS server.
func (m *clusterMember) leave() {
	m.stop()
	m.done.Wait()
	m.node.Shutdown()
}
