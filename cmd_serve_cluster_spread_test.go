package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/cluster"
)

// New businesses spread over the nodes: each sign-up, wherever it is sent, is served by the
// node rendezvous hashing picks for its address, which owns the business (epoch 1). Before,
// every sign-up went to the controller, which owned every new business.
func TestSignupsSpreadOverNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	ids := []string{"s1", "s2", "s3"}
	tc := startTestCluster(t, ctx, ids...)
	tc.controller(cluster.Owner{})
	owners := map[string]bool{}
	for i, slug := range []string{"spread-a", "spread-b", "spread-c", "spread-d", "spread-e", "spread-f"} {
		want := tc.placedOn(slug)
		code, body, node := tc.signUp(ids[i%len(ids)], slug)
		if code != http.StatusSeeOther || node != want {
			t.Fatalf("sign-up of %s at %s: %d served by %q, want 303 by %s: %s\n%s", slug, ids[i%len(ids)], code, node, want, body, tc.logText())
		}
		owners[node] = true
		// It is served from every node, by its owner.
		for _, id := range ids {
			if got := tc.until(tc.base[id]+"/"+slug+"/", http.StatusOK); got != want {
				t.Errorf("%s at %s served by %s, want its owner %s", slug, id, got, want)
			}
		}
		if got := tc.ownerOf(slug); got != (cluster.Owner{Node: want, Epoch: 1}) {
			t.Errorf("placement of %s: %+v, want %s in epoch 1", slug, got, want)
		}
	}
	if len(owners) < 2 {
		t.Errorf("six businesses signed up, all owned by %v", owners)
	}
}

// ownerOf reads the placement of slug's business (its route gives the id).
func (tc *testCluster) ownerOf(slug string) cluster.Owner {
	tc.t.Helper()
	rt, err := tc.co.Routes().Lookup(tc.ctx, cluster.RouteSlug, slug)
	if err != nil {
		tc.t.Fatalf("route of %s: %v", slug, err)
	}
	own, err := tc.co.Placement().Refresh(tc.ctx, rt.TenantID)
	if err != nil {
		tc.t.Fatalf("owner of %s: %v", slug, err)
	}
	return own
}

// reserva cluster drain --node N: N hands every business it holds to the others and, while
// it keeps running, is picked for no new business (sign-ups go elsewhere) until --resume;
// cluster status shows it draining.
func TestClusterDrainCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	ids := []string{"s1", "s2", "s3"}
	tc := startTestCluster(t, ctx, ids...)
	tc.controller(cluster.Owner{})
	// Two businesses on the node to drain, one on another (each node allows an address five
	// sign-ups in ten minutes: the slugs are chosen by where they go).
	const drained = "s2"
	var mine, all []string
	for i := 0; len(all) < 3 && i < 100; i++ {
		slug := fmt.Sprintf("drain-%d", i)
		onDrained := tc.placedOn(slug) == drained
		if onDrained && len(mine) == 2 || !onDrained && len(all)-len(mine) == 1 {
			continue
		}
		if code, body, node := tc.signUp(ids[i%len(ids)], slug); code != http.StatusSeeOther || (node == drained) != onDrained {
			t.Fatalf("sign-up of %s: %d at %s: %.300s\n%s", slug, code, node, body, tc.logText())
		}
		all = append(all, slug)
		if onDrained {
			mine = append(mine, slug)
		}
	}
	if len(mine) < 2 {
		t.Fatalf("no two businesses placed on %s among %v", drained, all)
	}

	code, out, errOut := reserva(t, "", "cluster", "drain", "--peers", tc.addrs[1], "--node", drained)
	if code != 0 || !regexp.MustCompile(`Drained s2: handed over (\d+) of \d+ businesses`).MatchString(out) {
		t.Fatalf("cluster drain: %d %q %q\n%s", code, out, errOut, tc.logText())
	}
	for _, slug := range all {
		if own := tc.ownerOf(slug); own.Node == drained {
			t.Errorf("%s still placed on the drained node: %+v", slug, own)
		}
	}
	for _, slug := range mine {
		if got := tc.until(tc.base[drained]+"/"+slug+"/", http.StatusOK); got == drained {
			t.Errorf("%s served by the drained node %s", slug, got)
		}
	}
	tc.await("s2 seen draining", tc.co.Liveness().Changed, func() bool {
		live, err := tc.co.Liveness().Live(ctx)
		i := slices.IndexFunc(live, func(n cluster.NodeInfo) bool { return n.ID == drained })
		return err == nil && i >= 0 && live[i].Draining
	})
	// New sign-ups that rendezvous hashing gives s2 when it takes businesses go to the others,
	// sent to s2 itself too.
	live, err := tc.co.Liveness().Live(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range live {
		live[i].Draining = false
	}
	for i, n := 0, 0; n < 2 && i < 100; i++ {
		slug := fmt.Sprintf("after-drain-%d", i)
		if signupTarget(slug, 0, live) != drained {
			continue
		}
		n++
		code, _, node := tc.signUp(ids[n%2], slug) // s2, then s3
		if code != http.StatusSeeOther || node == drained || node == "" {
			t.Errorf("sign-up of %s while s2 drains: %d served by %q", slug, code, node)
		}
	}
	// Its /metrics say so.
	_, metrics, _ := tc.do(http.MethodGet, tc.base[drained]+"/metrics", nil)
	for _, want := range []string{`(?m)^reserva_cluster_draining 1$`, `(?m)^reserva_cluster_businesses_held 0$`,
		`(?m)^reserva_cluster_handovers_total [2-9]$`, `(?m)^reserva_cluster_claims_total [1-9]\d*$`, `(?m)^reserva_cluster_nodes_serving 3$`} {
		if !regexp.MustCompile(want).MatchString(metrics) {
			t.Errorf("s2's /metrics lack %s", want)
		}
	}
	code, out, errOut = reserva(t, "", "cluster", "status", "--peers", tc.addrs[1], "--timeout", "30s")
	if code != 0 || !regexp.MustCompile(`(?m)^s2\s+draining\s`).MatchString(out) {
		t.Errorf("cluster status while s2 drains: %d %q %q", code, out, errOut)
	}

	code, out, errOut = reserva(t, "", "cluster", "drain", "--peers", tc.addrs[1], "--node", drained, "--resume")
	if code != 0 || !strings.Contains(out, "s2 takes new businesses again") {
		t.Fatalf("cluster drain --resume: %d %q %q", code, out, errOut)
	}
	tc.await("s2 seen taking businesses", tc.co.Liveness().Changed, func() bool {
		live, err := tc.co.Liveness().Live(ctx)
		i := slices.IndexFunc(live, func(n cluster.NodeInfo) bool { return n.ID == drained })
		return err == nil && i >= 0 && !live[i].Draining
	})

	for _, args := range [][]string{{"cluster", "drain", "--node", drained}, {"cluster", "drain", "--peers", tc.addrs[1]},
		{"cluster", "drain", "--peers", tc.addrs[1], "--node", "a b"}} {
		if code, _, errOut := reserva(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d (%q), want a usage error", args, code, errOut)
		}
	}
}

// "Sign in to your business" in a cluster: the address has accounts with businesses owned by
// different nodes, and the one mail lists them all, whichever node takes the request. Before,
// a node searched only the businesses it served.
func TestFindBusinessesAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	ids := []string{"s1", "s2", "s3"}
	tc := startTestCluster(t, ctx, ids...)
	tc.controller(cluster.Owner{})
	// Three businesses of kim, on three different nodes, and one of someone else.
	byNode := map[string]string{}
	for i := 0; len(byNode) < 3 && i < 100; i++ {
		slug := fmt.Sprintf("kims-%d", i)
		node := tc.placedOn(slug)
		if byNode[node] != "" {
			continue
		}
		form := signUpForm(slug)
		form.Set("email", "Kim@Example.com")
		if code, body, served := tc.signUpWith(ids[len(byNode)], form); code != http.StatusSeeOther || served != node {
			t.Fatalf("sign-up of %s: %d at %q, want %s: %s", slug, code, served, node, body)
		}
		byNode[node] = slug
	}
	if code, body, _ := tc.signUp("s1", "someone-else"); code != http.StatusSeeOther {
		t.Fatalf("sign-up: %d: %s", code, body)
	}
	code, body, _ := tc.do(http.MethodPost, tc.base["s2"]+"/signin", url.Values{"email": {"kim@example.com"}})
	if code != http.StatusSeeOther {
		t.Fatalf("sign in to your business: %d: %s\n%s", code, body, tc.logText())
	}
	// One mail, in the outbox of the first of kim's businesses (by address), listing all three.
	slugs := slices.Sorted(maps.Values(byNode))
	var mails []string
	for node, slug := range byNode {
		for _, body := range tc.outboxTo(node, slug, "kim@example.com") {
			mails = append(mails, slug+": "+body)
		}
	}
	if len(mails) != 1 || !strings.HasPrefix(mails[0], slugs[0]+": ") {
		t.Fatalf("mails to kim: %q, want one from %s", mails, slugs[0])
	}
	for _, slug := range slugs {
		if !strings.Contains(mails[0], "/"+slug+"/admin") {
			t.Errorf("the list lacks %s: %s", slug, mails[0])
		}
	}
	if strings.Contains(mails[0], "someone-else") {
		t.Errorf("the list names a business where kim has no account: %s", mails[0])
	}
}

// outboxTo returns the bodies of the business lists mailed to addr from the outbox of slug's business, read from
// its file on node.
func (tc *testCluster) outboxTo(node, slug, addr string) []string {
	tc.t.Helper()
	rt, err := tc.co.Routes().Lookup(tc.ctx, cluster.RouteSlug, slug)
	if err != nil {
		tc.t.Fatal(err)
	}
	path := filepath.Join(tc.data[node], "tenants", rt.TenantID[:2], rt.TenantID+".db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tc.t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only: nothing to lose
	rows, err := db.QueryContext(tc.ctx, `SELECT body FROM outbox WHERE to_addr = ? AND subject = ?`, addr, "Your businesses on Reserva")
	if err != nil {
		tc.t.Fatalf("outbox of %s on %s: %v", slug, node, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			tc.t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		tc.t.Fatal(err)
	}
	return out
}
