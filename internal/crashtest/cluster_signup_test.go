package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// signUpClient returns the client of the next sign-up: each speaks from its own loopback
// address (the controller allows an address a few sign-ups in ten minutes), and does not
// follow the redirect to the dashboard (its cookie is the answer).
func (r *clusterRig) signUpClient() *http.Client {
	r.mu.Lock()
	i := r.signUps
	r.signUps++
	r.mu.Unlock()
	c := *r.clientPool[i%len(r.clientPool)]
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// signUp posts the sign-up form for slug to base, as a browser would (same-origin fetch
// metadata, which the cross-origin protection lets through), and returns the new owner's
// session cookies. An error is a sign-up that did not succeed, with the status and the page's
// message.
func (r *clusterRig) signUp(ctx context.Context, base, slug string) ([]*http.Cookie, error) {
	form := url.Values{"name": {"Proof " + slug}, "slug": {slug}, "timezone": {"Europe/Madrid"},
		"email": {"owner@" + slug + ".example"}, "password": {"correct horse battery staple"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signup", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := r.signUpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Body.Close() }() // read below
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) == 0 {
		return nil, fmt.Errorf("sign-up of %s at %s: %s (node %q): %s", slug, base, res.Status,
			res.Header.Get("X-Reserva-Node"), pageMessage(body))
	}
	return res.Cookies(), nil
}

var tagText = regexp.MustCompile(`<[^>]*>|\s+`)

// pageMessage is a page's text, shortened, for a failure's message.
func pageMessage(page []byte) string {
	s := strings.TrimSpace(tagText.ReplaceAllString(string(page), " "))
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// adminGQL sends an operation to slug's GraphQL API at base with auth (cookies or a bearer
// token) and decodes its data into out; a GraphQL error is an error.
func adminGQL(ctx context.Context, base, slug string, cookies []*http.Cookie, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+slug+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }() // read below
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&r); err != nil {
		return fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
	}
	return json.Unmarshal(r.Data, out)
}

// furnish gives the new business slug what the load books: an API token made with the
// owner's session, then through it two staff working every day 08:00-20:00 and a 30-minute
// service both offer, each call sent to a random node.
func (r *clusterRig) furnish(ctx context.Context, slug string, cookies []*http.Cookie) error {
	node := func() string { urls := r.urls(); return urls[rand.IntN(len(urls))] }
	var tok struct {
		CreateAPIToken struct {
			Secret string `json:"secret"`
		} `json:"createApiToken"`
	}
	if err := adminGQL(ctx, node(), slug, cookies, "", `mutation { createApiToken(name: "proof", role: OWNER) { secret } }`, nil, &tok); err != nil {
		return fmt.Errorf("%s: create an API token: %w", slug, err)
	}
	secret := tok.CreateAPIToken.Secret
	var hours []map[string]any
	for d := range 7 {
		hours = append(hours, map[string]any{"weekday": d, "intervals": []string{"08:00-20:00"}})
	}
	var staff []string
	for _, name := range []string{"Ana", "Ben"} {
		var s struct {
			CreateStaffMember struct {
				ID string `json:"id"`
			} `json:"createStaffMember"`
		}
		if err := adminGQL(ctx, node(), slug, nil, secret, `mutation($i: StaffInput!) { createStaffMember(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"name": name}}, &s); err != nil {
			return fmt.Errorf("%s: add staff %s: %w", slug, name, err)
		}
		var h struct{}
		if err := adminGQL(ctx, node(), slug, nil, secret, `mutation($s: ID!, $h: [WorkingHoursInput!]!) { setWorkingHours(staffId: $s, hours: $h) { id } }`,
			map[string]any{"s": s.CreateStaffMember.ID, "h": hours}, &h); err != nil {
			return fmt.Errorf("%s: working hours of %s: %w", slug, name, err)
		}
		staff = append(staff, s.CreateStaffMember.ID)
	}
	var svc struct{}
	if err := adminGQL(ctx, node(), slug, nil, secret, `mutation($i: ServiceInput!) { createService(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Haircut", "durationMinutes": 30, "priceAmount": 2500, "staffIds": staff}}, &svc); err != nil {
		return fmt.Errorf("%s: add a service: %w", slug, err)
	}
	return nil
}

// provision signs up tenants businesses over HTTP, each at a random node as a user would
// (the node hands it to the node rendezvous hashing picks, which registers it through the
// cluster's controller and owns it), and
// furnishes each through its GraphQL API; it logs the sign-ups' p50 and max and reads the
// businesses' ids from a node's copy of the registry.
func (r *clusterRig) provision(tenants int) {
	t := r.t
	t.Helper()
	for _, n := range r.nodes {
		r.awaitJoined(n, 60*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var took []time.Duration
	for i := range tenants {
		slug := fmt.Sprintf("proof-%d", i)
		var cookies []*http.Cookie
		for {
			// Until a controller is elected the nodes answer 503: try again.
			begin := time.Now()
			c, err := r.signUp(ctx, r.urls()[rand.IntN(len(r.nodes))], slug)
			if err == nil {
				took = append(took, time.Since(begin))
				cookies = c
				break
			}
			if !strings.Contains(err.Error(), "503") || ctx.Err() != nil {
				t.Fatalf("%v\n%s", err, r.logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := r.furnish(ctx, slug, cookies); err != nil {
			t.Fatalf("%v\n%s", err, r.logs())
		}
		r.slugs = append(r.slugs, slug)
	}
	slices.Sort(took)
	t.Logf("%d sign-ups over HTTP at random nodes: p50 %s, max %s", len(took),
		took[(len(took)-1)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	r.readIDs(r.slugs, 30*time.Second)
}

// readIDs reads the ids of slugs from the nodes' copies of the registry, waiting until one
// copy has them all (a node's copy follows the controller's shortly).
func (r *clusterRig) readIDs(slugs []string, within time.Duration) {
	t := r.t
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		for _, n := range r.nodes {
			ids, err := registryIDs(filepath.Join(n.data, "registry.db"), slugs)
			if err == nil {
				for slug, id := range ids {
					r.ids[slug] = id
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ids of %v: %v", slugs, err)
			}
		}
	}
}

// registryIDs reads the ids of slugs from the registry at path (read only: the node runs).
func registryIDs(path string, slugs []string) (map[string]string, error) {
	reg, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer func() { _ = reg.Close() }() // read only
	ids := map[string]string{}
	for _, slug := range slugs {
		var id string
		if err := reg.QueryRow(`SELECT id FROM tenants WHERE slug = ?`, slug).Scan(&id); err != nil {
			return nil, fmt.Errorf("id of %s: %w", slug, err)
		}
		ids[slug] = id
	}
	return ids, nil
}

// place spreads slugs evenly: the node that took each sign-up owns it (epoch 1), and
// `reserva cluster move` hands the i-th to the i-th node in turn where it is not there already.
func (r *clusterRig) place(slugs []string) {
	t := r.t
	t.Helper()
	begin := time.Now()
	moves := 0
	owners := r.owners(time.Now())
	for i, slug := range slugs {
		to := r.nodes[i%len(r.nodes)]
		from := r.node(owners[slug])
		if from == nil {
			t.Fatalf("%s: no claim logged after its sign-up (does %s still match?)\n%s", slug, claimLine, r.logs())
		}
		if from == to {
			continue
		}
		out, err := exec.Command(r.bin, "cluster", "move", "--peers", from.addr, "--tenant", slug, "--to", to.id).CombinedOutput()
		if err != nil || !movedLine.Match(out) {
			t.Fatalf("cluster move %s %s -> %s: %v\n%s\n%s", slug, from.id, to.id, err, out, r.logs())
		}
		moves++
	}
	owners = r.owners(time.Now())
	t.Logf("placed with %d moves in %s: %v", moves, time.Since(begin).Round(time.Millisecond), owners)
}

// controllerLine is what `reserva cluster status` says of the controller.
var controllerLine = regexp.MustCompile(`(?m)^controller: (\S+) \(epoch (\d+)\)$`)

// controller asks `reserva cluster status`, through via's cluster address, which node is
// the controller, waiting until one other than not is elected.
func (r *clusterRig) controller(via *clusterNode, not string, within time.Duration) (node string, epoch string) {
	t := r.t
	t.Helper()
	var out []byte
	var err error
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		out, err = exec.Command(r.bin, "cluster", "status", "--peers", via.addr).CombinedOutput()
		if m := controllerLine.FindSubmatch(out); err == nil && m != nil && string(m[1]) != not {
			return string(m[1]), string(m[2])
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status: no controller (other than %q) within %s: %v\n%s", not, within, err, out)
		}
	}
}

// signUpWithin bounds the time from killing the controller to the first successful
// sign-up: the controller's key lapses and another node takes office.
const signUpWithin = 30 * time.Second

// killController kills the cluster's controller (as `reserva cluster status` names it)
// with SIGKILL, signs up at the surviving nodes until one sign-up succeeds (each attempt a
// new business: a failed one may or may not exist), waits until the controller's businesses
// are served elsewhere, starts it again, and checks that every node serves the new business.
func (r *clusterRig) killController(ld *clusterLoad) []faultHit {
	t := r.t
	ctrl, epoch := r.controller(r.nodes[0], "", 30*time.Second)
	n := r.node(ctrl)
	var survivors []*clusterNode
	for _, o := range r.nodes {
		if o != n {
			survivors = append(survivors, o)
		}
	}
	h := r.hit(n.id)
	if err := n.srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.srv.exited
	ctx, cancel := context.WithTimeout(context.Background(), signUpWithin)
	defer cancel()
	var slug string
	var took time.Duration
	var fails []string
	for i := 0; ; i++ {
		s := fmt.Sprintf("after-kill-%d-%d", len(r.extra), i)
		attempt, acancel := context.WithTimeout(ctx, 5*time.Second)
		cookies, err := r.signUp(attempt, survivors[i%len(survivors)].srv.url, s)
		acancel()
		if err == nil && len(cookies) > 0 {
			slug, took = s, time.Since(h.when)
			break
		}
		fails = append(fails, err.Error())
		if ctx.Err() != nil {
			t.Fatalf("no sign-up succeeded within %s of killing the controller %s; %d attempts, the last: %s\n%s",
				signUpWithin, ctrl, len(fails), fails[len(fails)-1], r.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	next, nextEpoch := r.controller(survivors[0], ctrl, 30*time.Second)
	kinds := map[string]int{}
	for _, f := range fails {
		kinds[number.ReplaceAllString(f, "N")]++
	}
	t.Logf("killed the controller %s (epoch %s): first sign-up (%s) succeeded %s after the fault, after %d failed attempts %v; "+
		"controller now %s (epoch %s)", ctrl, epoch, slug, took.Round(time.Millisecond), len(fails), kinds, next, nextEpoch)
	r.extra = append(r.extra, slug)
	r.signUpAfterKill = append(r.signUpAfterKill, took)
	ld.awaitServed(t, &h, 45*time.Second)
	r.startNode(n)
	r.awaitJoined(n, 60*time.Second)
	ld.waitAcks(t, 20, 30*time.Second)
	// The new business is served from every node, the restarted one too.
	for _, o := range r.nodes {
		var last string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			res, err := http.Get(o.srv.url + "/" + slug + "/")
			if err == nil {
				_ = res.Body.Close() // the status is the answer
				if res.StatusCode == http.StatusOK {
					break
				}
				last = res.Status
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				t.Errorf("%s, signed up after the controller was killed, not served at %s: %s", slug, o.id, last)
				break
			}
		}
	}
	return []faultHit{h}
}
