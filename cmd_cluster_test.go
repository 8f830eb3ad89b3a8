package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// reserva cluster status joins a running cluster for the while and shows its live nodes, with
// their HTTP addresses and how many businesses each owns, and the owners that are gone.
func TestClusterStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	addrs := freeAddrs(t, 2)
	dir := t.TempDir()
	var nodes []*cluster.Node
	for i, id := range []string{"n1", "n2"} {
		node, err := cluster.StartNode(ctx, cluster.NodeConfig{ID: id, ClusterAddr: addrs[i], Peers: []string{addrs[1-i]},
			StoreDir: filepath.Join(dir, id)})
		if err != nil {
			t.Fatal(err)
		}
		defer node.Shutdown()
		nodes = append(nodes, node)
	}
	// Both voters run before the first coordinator waits for JetStream's quorum.
	var cos []*cluster.NATSCoordinator
	for _, node := range nodes {
		nc, err := node.Connect()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		id := node.ID()
		co, err := cluster.NewNATSCoordinator(ctx, nc, cluster.NATSConfig{
			Self: cluster.NodeInfo{ID: id, HTTP: "http://127.0.0.1:80" + id[1:], Schema: 7}, Voters: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = co.Close() }() // its nodes stop next anyway
		cos = append(cos, co)
	}
	for tenant, node := range map[string]string{
		"tenantaaaaaaaaaaaaaaaaaaaa": "n1", "tenantbbbbbbbbbbbbbbbbbbbb": "n1", "tenantcccccccccccccccccccc": "n1",
		"tenantdddddddddddddddddddd": "n2", "tenanteeeeeeeeeeeeeeeeeeee": "gone",
	} {
		if err := cos[0].Placement().CompareAndSwap(ctx, tenant, cluster.Owner{}, cluster.Owner{Node: node, Epoch: 1}); err != nil {
			t.Fatal(err)
		}
	}

	if err := cos[1].Controller().CompareAndSwap(ctx, cluster.Owner{}, cluster.Owner{Node: "n2", Epoch: 1}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := reserva(t, "", "cluster", "status", "--peers", addrs[1], "--timeout", "30s")
	if code != 0 {
		t.Fatalf("cluster status: %d %q %q", code, out, errOut)
	}
	for _, want := range []string{
		`(?m)^n1\s+yes\s+http://127\.0\.0\.1:801\s+7\s+3$`,
		`(?m)^n2\s+yes\s+http://127\.0\.0\.1:802\s+7\s+1$`,
		`(?m)^gone\s+no\s+-\s+-\s+1$`,
		`(?m)^2 nodes live, 5 businesses placed$`,
		`(?m)^controller: n2 \(epoch 1\)$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("cluster status output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "status-") {
		t.Errorf("the command's own server shows as a node:\n%s", out)
	}

	for _, args := range [][]string{{"cluster"}, {"cluster", "moves"}, {"cluster", "status"},
		{"cluster", "status", "--peers", "nohost"}, {"cluster", "status", "--peers", addrs[0], "--timeout", "0s"}} {
		if code, _, errOut := reserva(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%q), want a usage error", args, code, errOut)
		}
	}
}

// One node, one business: the summary says so in the singular.
func TestClusterStatusSingular(t *testing.T) {
	for _, tc := range []struct {
		st   clusterStatus
		want string
	}{
		{clusterStatus{Live: []cluster.NodeInfo{{ID: "n1"}}, Owned: map[string]int{"n1": 1}}, "1 node live, 1 business placed\n"},
		{clusterStatus{Owned: map[string]int{}}, "0 nodes live, 0 businesses placed\n"},
		{clusterStatus{Live: []cluster.NodeInfo{{ID: "n1"}, {ID: "n2"}}, Owned: map[string]int{"n1": 1, "gone": 2}}, "2 nodes live, 3 businesses placed\n"},
	} {
		var b strings.Builder
		tc.st.print(&b)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("cluster status of %+v:\n%s\nwant the line %q", tc.st, b.String(), tc.want)
		}
	}
}
