package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reserva/reserva/cluster"
)

// cmdCluster runs `reserva cluster status`: the cluster's live nodes and how many businesses
// each owns, read from the cluster's shared state by a NATS server of its own that joins the
// nodes' cluster for the while (it stores nothing and votes in nothing).
func cmdCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "move" {
		return cmdClusterMove(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "drain" {
		return cmdClusterDrain(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "status" {
		return fmt.Errorf("%w: cluster: the commands are status, move and drain (reserva cluster status --peers HOST:PORT,...)", errUsage)
	}
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reserva cluster status --peers HOST:PORT,...\n\n"+
			"Shows the cluster's live nodes and how many businesses each owns.\nFlags:\n")
		fs.PrintDefaults()
	}
	peers, addr := memberFlags(fs)
	wait := fs.Duration("timeout", 10*time.Second, "how long to wait for the cluster's state")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if err := checkMember("cluster status", *peers, *addr); err != nil {
		return err
	}
	if *wait <= 0 || *wait > 5*time.Minute {
		return fmt.Errorf("%w: cluster status: --timeout must be between 0 and 5m", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	st, err := readClusterStatus(ctx, *addr, *peers)
	if err != nil {
		return err
	}
	st.print(stdout)
	return nil
}

// clusterStatus is what `cluster status` shows.
type clusterStatus struct {
	// Live are the nodes whose liveness key the bucket holds, sorted by id (a node killed less
	// than the liveness TTL ago still shows).
	Live []cluster.NodeInfo
	// Owned is how many businesses placement names each node the owner of (live or not).
	Owned map[string]int
	// Controller owns the registry (the zero Owner: none elected yet).
	Controller cluster.Owner
}

func (st clusterStatus) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLIVE\tHTTP\tSCHEMA\tBUSINESSES")
	total := 0
	for _, n := range st.Live {
		live := "yes"
		if n.Draining {
			live = "draining"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", n.ID, live, n.HTTP, n.Schema, st.Owned[n.ID])
	}
	var gone []string
	for id, c := range st.Owned {
		total += c
		if !slices.ContainsFunc(st.Live, func(n cluster.NodeInfo) bool { return n.ID == id }) {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		// Its businesses are claimed by a live node (adoption, or their next request).
		fmt.Fprintf(tw, "%s\tno\t-\t-\t%d\n", id, st.Owned[id])
	}
	_ = tw.Flush() // w is the command's output; a failed write shows there
	fmt.Fprintf(w, "%s live, %s placed\n", countOf(len(st.Live), "node", "nodes"), countOf(total, "business", "businesses"))
	if st.Controller.Node == "" {
		fmt.Fprintln(w, "controller: none elected yet")
	} else {
		fmt.Fprintf(w, "controller: %s (epoch %d)\n", st.Controller.Node, st.Controller.Epoch)
	}
}

// countOf is n with its noun, singular for one: "1 business", "3 businesses".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// readClusterStatus joins the cluster at peers with a NATS server of its own (no JetStream)
// and reads the liveness and placement buckets, trying again until ctx ends: the buckets
// answer once the server's routes are up.
func readClusterStatus(ctx context.Context, addr string, peers []string) (clusterStatus, error) {
	nc, leave, err := visitCluster(ctx, "status", addr, peers)
	if err != nil {
		return clusterStatus{}, fmt.Errorf("cluster status: %w", err)
	}
	defer leave()
	js, err := jetstream.New(nc)
	if err != nil {
		return clusterStatus{}, fmt.Errorf("cluster status: %w", err)
	}
	for {
		st, err := readBuckets(ctx, js)
		if err == nil {
			return st, nil
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return clusterStatus{}, fmt.Errorf("cluster status: read the cluster's state through %s: %w", strings.Join(peers, ", "), err)
		case <-t.C:
		}
	}
}

// readBuckets reads the live nodes and the owners' counts, each call bounded.
func readBuckets(ctx context.Context, js jetstream.JetStream) (clusterStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, cluster.DefaultCallTimeout*3)
	defer cancel()
	st := clusterStatus{Owned: map[string]int{}}
	err := eachEntry(ctx, js, cluster.BucketLiveness, func(v []byte) error {
		var n cluster.NodeInfo
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		st.Live = append(st.Live, n)
		return nil
	})
	if err != nil {
		return st, err
	}
	slices.SortFunc(st.Live, func(a, b cluster.NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	err = eachEntry(ctx, js, cluster.BucketPlacement, func(v []byte) error {
		var o cluster.Owner
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		st.Owned[o.Node]++
		return nil
	})
	if err != nil {
		return st, err
	}
	// No bucket or no key yet: no node has been elected.
	err = eachEntry(ctx, js, cluster.BucketController, func(v []byte) error { return json.Unmarshal(v, &st.Controller) })
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		err = nil
	}
	return st, err
}

// eachEntry calls f with the value of every key of bucket.
func eachEntry(ctx context.Context, js jetstream.JetStream, bucket string, f func([]byte) error) error {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys of %s: %w", bucket, err)
	}
	defer func() { _ = keys.Stop() }() // all read, or the error below is the answer
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // gone since it was listed (a node left)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", bucket, k, err)
		}
		if err := f(e.Value()); err != nil {
			return fmt.Errorf("%s %s: %w", bucket, k, err)
		}
	}
	return ctx.Err()
}

// checkMember checks the flags of memberFlags for command cmd: peers to meet, and an address
// of its own.
func checkMember(cmd string, peers []string, addr string) error {
	if len(peers) == 0 {
		return fmt.Errorf("%w: %s: --peers is required", errUsage, cmd)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: %s: --cluster-addr: %w", errUsage, cmd, err)
	}
	return nil
}

// visitCluster joins the cluster at peers for the while, with a NATS server of its own named
// role-<random> (it stores nothing and votes in nothing), and returns a connection to it; leave
// closes both.
func visitCluster(ctx context.Context, role, addr string, peers []string) (nc *nats.Conn, leave func(), err error) {
	node, err := cluster.StartNode(ctx, cluster.NodeConfig{
		ID: role + "-" + strings.ToLower(rand.Text()[:10]), ClusterAddr: addr, Peers: peers})
	if err != nil {
		return nil, nil, err
	}
	if nc, err = node.Connect(); err != nil {
		node.Shutdown()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); node.Shutdown() }, nil
}

// memberFlags defines the flags of a command that joins the cluster for a moment (cluster
// status, cluster move): the nodes to meet (--peers) and its own cluster address.
func memberFlags(fs *flag.FlagSet) (peers *[]string, addr *string) {
	peers = new([]string)
	fs.Func("peers", "comma-separated cluster addresses (--cluster-addr) of one or more nodes (RESERVA_PEERS)", func(v string) error {
		*peers = nil
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				if _, _, err := net.SplitHostPort(p); err != nil {
					return fmt.Errorf("peer %q: %w", p, err)
				}
				*peers = append(*peers, p)
			}
		}
		return nil
	})
	addr = fs.String("cluster-addr", "127.0.0.1:0", "host:port on which this command meets the nodes (port 0: any free one)")
	return peers, addr
}
