// Package crashtest kills a real `reserva serve` with SIGKILL while customers book, restarts it,
// and checks that nothing acknowledged was lost or doubled; and kills sign-ups the same way.
// `make test` runs a short form; `make crashtest` runs more rounds (RESERVA_CRASH_ROUNDS,
// RESERVA_CRASH_TENANTS, RESERVA_CRASH_SIGNUPS).
package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// server is one run of the reserva binary.
type server struct {
	cmd    *exec.Cmd
	url    string
	logs   string        // the file the process writes its output to
	exited chan struct{} // closed when the process has ended
}

// output is what the server has written so far.
func (s *server) output() string {
	b, _ := os.ReadFile(s.logs)
	return string(b)
}

func start(t *testing.T, bin, data string, extra ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	logs, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logs.Close() }() // the process has its own copy
	s := &server{url: "http://" + addr, logs: logs.Name()}
	s.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--addr", addr, "--log-level", "warn"}, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = logs, logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }() // a killed server exits non-zero by design
	s.exited = exited
	// Never leave a server behind, whatever way the test ends.
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); <-exited }) // gone already when the test stopped it
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("server exited before it was ready:\n%s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not get ready:\n%s", s.output())
		}
	}
}

// booking is one createBooking a client sent: acknowledged once the server answered with it.
type booking struct {
	tenant, key, start, service string
	id                          string
	acked                       bool
	answered                    bool // the server said yes or no: no retry
	ackedAt                     time.Time
	kill                        *time.Time // the kill that ended the round it was acknowledged in
	lost                        bool       // acknowledged, but not in the data afterwards
	// In a cluster: the node that acknowledged it, and when the acknowledged attempt was sent.
	node   string
	sentAt time.Time
}

type gqlResult struct {
	Data struct {
		Availability []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"availability"`
		Services []struct {
			ID string `json:"id"`
		} `json:"services"`
		CreateBooking struct {
			Booking struct {
				ID string `json:"id"`
			} `json:"booking"`
		} `json:"createBooking"`
	} `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func gql(ctx context.Context, base, slug, query string, vars map[string]any) (gqlResult, error) {
	var r gqlResult
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/"+slug+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer func() { _ = res.Body.Close() }()
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("status %d: %w", res.StatusCode, err)
	}
	return r, nil
}

const createBooking = `mutation($input: CreateBookingInput!) { createBooking(input: $input) { booking { id } } }`

// load is the bookings clients sent over the rounds of a test, and what came of them.
type load struct {
	mu       sync.Mutex
	sent     []*booking
	outcomes map[string]int
	answers  int
}

// acked counts the acknowledged bookings.
func (l *load) acked() int {
	n := 0
	for _, b := range l.sent {
		if b.acked {
			n++
		}
	}
	return n
}

// bookAndKill is one round against the running server s: it retries what earlier rounds left
// unanswered (same idempotency keys, as a client would after a network error), books anew in
// every business, and kills s with SIGKILL at a random moment while bookings are in flight:
// after a random number of answers, or with afterAcks of acknowledged bookings (so that a round
// whose acknowledgements wait for a replica still has some to check).
func bookAndKill(t *testing.T, s *server, slugs []string, round int, ld *load, afterAcks bool) {
	t.Helper()
	ld.mu.Lock()
	var retry []*booking
	for _, b := range ld.sent {
		if !b.answered {
			retry = append(retry, b)
		}
	}
	ld.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	kill := new(time.Time) // set when the kill is sent
	send := func(b *booking) {
		r, err := gql(ctx, s.url, b.tenant, createBooking, map[string]any{"input": map[string]any{
			"serviceId": b.service, "start": b.start, "idempotencyKey": b.key,
			"customer": map[string]any{"name": "Crash " + b.key, "email": b.key + "@crash.example"}}})
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if err == nil {
			ld.answers++
		}
		switch {
		case err != nil:
			ld.outcomes["no answer"]++
		case len(r.Errors) > 0:
			b.answered = true
			code, _ := r.Errors[0].Extensions["code"].(string)
			ld.outcomes[code]++
		case r.Data.CreateBooking.Booking.ID != "":
			b.acked, b.answered, b.id = true, true, r.Data.CreateBooking.Booking.ID
			b.ackedAt, b.kill = time.Now(), kill
			ld.outcomes["booked"]++
		}
	}
	for _, b := range retry {
		wg.Go(func() { send(b) })
	}
	for ti, slug := range slugs {
		wg.Go(func() {
			r, err := gql(ctx, s.url, slug, `{ services { id } }`, nil)
			if err != nil || len(r.Data.Services) == 0 {
				return
			}
			svc := r.Data.Services[0].ID
			from := time.Now().AddDate(0, 0, 2+round*3).Format(time.DateOnly)
			to := time.Now().AddDate(0, 0, 4+round*3).Format(time.DateOnly)
			r, err = gql(ctx, s.url, slug, `query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { start } } }`,
				map[string]any{"s": svc, "f": from, "t": to})
			if err != nil {
				return
			}
			var starts []string
			seen := map[string]bool{}
			for _, d := range r.Data.Availability {
				for _, sl := range d.Slots {
					if !seen[sl.Start] {
						seen[sl.Start] = true
						starts = append(starts, sl.Start)
					}
				}
			}
			rand.Shuffle(len(starts), func(i, j int) { starts[i], starts[j] = starts[j], starts[i] })
			// Eight bookings per business (under the per-client limit of ten), two at a
			// time for the same time: at most one of each pair wins.
			var inner sync.WaitGroup
			for n := range 8 {
				if n/2 >= len(starts) {
					break
				}
				b := &booking{tenant: slug, service: svc, start: starts[n/2],
					key: fmt.Sprintf("r%d-t%d-n%d-%d", round, ti, n, rand.Int())}
				ld.mu.Lock()
				ld.sent = append(ld.sent, b)
				ld.mu.Unlock()
				inner.Go(func() { send(b) })
				if n%2 == 1 {
					inner.Wait()
				}
			}
			inner.Wait()
		})
	}
	// The kill comes at a random moment while the bookings are in flight: after a random
	// number of this round's answers (or acknowledgements).
	counted := func() int {
		if afterAcks {
			return ld.outcomes["booked"]
		}
		return ld.answers
	}
	ld.mu.Lock()
	killAt := counted() + 1 + rand.IntN(len(slugs)*4)
	if afterAcks {
		killAt = counted() + 1 + rand.IntN(len(slugs)*2)
	}
	ld.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ld.mu.Lock()
		n := counted()
		ld.mu.Unlock()
		if n >= killAt {
			break
		}
	}
	ld.mu.Lock()
	*kill = time.Now()
	ld.mu.Unlock()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	cancel()
	wg.Wait()
}

// Kill -9 during concurrent createBookings, restart, repeat; then every acknowledged booking
// exists exactly once, no time is double-booked, every database passes integrity_check and the
// server serves every business.
func TestKillDuringBookings(t *testing.T) {
	rounds, tenants := envInt("RESERVA_CRASH_ROUNDS", 3), envInt("RESERVA_CRASH_TENANTS", 6)
	dir := t.TempDir()
	bin := buildReserva(t, dir)
	data := filepath.Join(dir, "data")
	slugs := createBusinesses(t, bin, data, tenants)

	ld := &load{outcomes: map[string]int{}}
	for round := range rounds {
		s := start(t, bin, data)
		bookAndKill(t, s, slugs, round, ld, false)
	}
	t.Logf("%d rounds, %d kills, %d bookings sent, %d acknowledged; answers: %v", rounds, rounds, len(ld.sent), ld.acked(), ld.outcomes)
	if ld.acked() == 0 {
		t.Fatal("no booking was acknowledged: the test proves nothing")
	}
	if lost := checkBookings(t, data, slugs, ld.sent, false); lost > 0 {
		t.Errorf("%d acknowledged bookings lost", lost)
	}
	serveEvery(t, bin, data, slugs)
}

// buildReserva builds the binary into dir.
func buildReserva(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "reserva")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/reserva/reserva").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// createBusinesses creates n businesses with demo data (extra: more flags) and returns their
// slugs.
func createBusinesses(t *testing.T, bin, data string, n int, extra ...string) []string {
	t.Helper()
	var slugs []string
	for i := range n {
		slug := fmt.Sprintf("crash-%d", i)
		args := append([]string{"tenants", "create", "--data", data, "--slug", slug, "--name", "Crash " + slug,
			"--timezone", "Europe/Madrid", "--demo"}, extra...)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("create %s: %v\n%s", slug, err, out)
		}
		slugs = append(slugs, slug)
	}
	return slugs
}

// checkBookings looks at the files with the server down: every database passes
// integrity_check, no time is double-booked, no booking is stored twice or under another id
// than acknowledged. It returns how many acknowledged bookings are missing; unless allowLost
// (async acknowledgement, where that is the measured RPO), each is an error.
func checkBookings(t *testing.T, data string, slugs []string, sent []*booking, allowLost bool) (lost int) {
	t.Helper()
	reg, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "registry.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	rows, err := reg.Query(`SELECT slug, id FROM tenants`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var slug, id string
		if err := rows.Scan(&slug, &id); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(filepath.Join(data, "tenants", "*", id+".db"))
		if len(matches) == 0 {
			matches, _ = filepath.Glob(filepath.Join(data, "*", id+".db"))
		}
		if len(matches) != 1 {
			t.Fatalf("database of %s (%s) not found", slug, id)
		}
		paths[slug] = matches[0]
	}
	rows.Close()
	_ = reg.Close()
	for _, slug := range slugs {
		lost += checkDatabase(t, slug, paths[slug], sent, allowLost)
	}
	return lost
}

// checkDatabase checks one business's database file (the server may be running: it is only
// read): integrity_check, no time double-booked, every booking of sent stored at most once and
// under the id it was acknowledged with. It returns how many acknowledged bookings it lacks;
// unless allowLost, each is an error.
func checkDatabase(t *testing.T, slug, path string, sent []*booking, allowLost bool) (lost int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("%s: integrity_check: %s %v", slug, check, err)
	}
	var doubles int
	if err := db.QueryRow(`SELECT count(*) FROM bookings a JOIN bookings b ON a.staff_id = b.staff_id AND a.id < b.id
		JOIN services sa ON sa.id = a.service_id JOIN services sb ON sb.id = b.service_id
		WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')
		AND a.block_start < b.block_end AND b.block_start < a.block_end
		AND (sa.capacity = 1 OR sb.capacity = 1 OR a.service_id != b.service_id OR a.start_at != b.start_at)`).Scan(&doubles); err != nil {
		t.Fatal(err)
	}
	if doubles != 0 {
		t.Errorf("%s: %d double bookings", slug, doubles)
	}
	for _, b := range sent {
		if b.tenant != slug {
			continue
		}
		var n int
		var id sql.NullInt64
		if err := db.QueryRow(`SELECT count(*), max(id) FROM bookings WHERE idempotency_key = ?`, b.key).Scan(&n, &id); err != nil {
			t.Fatal(err)
		}
		switch {
		case n > 1:
			t.Errorf("%s: booking %s stored %d times", slug, b.key, n)
		case b.acked && n == 0:
			lost++
			b.lost = true
			if !allowLost {
				t.Errorf("%s: acknowledged booking %s (id %s) is lost", slug, b.key, b.id)
			}
		case b.acked && strconv.FormatInt(id.Int64, 10) != b.id:
			t.Errorf("%s: booking %s acknowledged as %s, stored as %d", slug, b.key, b.id, id.Int64)
		}
	}
	_ = db.Close()
	return lost
}

// serveEvery starts the server (extra: more flags) and checks that it serves every business,
// then stops it cleanly.
func serveEvery(t *testing.T, bin, data string, slugs []string, extra ...string) {
	t.Helper()
	s := start(t, bin, data, extra...)
	defer func() { _ = s.cmd.Process.Signal(syscall.SIGTERM); <-s.exited }()
	for _, slug := range slugs {
		res, err := http.Get(s.url + "/" + slug)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("after the crashes, /%s: %v %v", slug, err, res)
			continue
		}
		_ = res.Body.Close()
	}
	if out := s.output(); strings.Contains(out, "panic") {
		t.Errorf("server log:\n%s", out)
	}
}
