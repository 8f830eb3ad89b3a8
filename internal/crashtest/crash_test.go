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

func start(t *testing.T, bin, data string) *server {
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
	s.cmd = exec.Command(bin, "serve", "--data", data, "--addr", addr, "--log-level", "warn")
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

// Kill -9 during concurrent createBookings, restart, repeat; then every acknowledged booking
// exists exactly once, no time is double-booked, every database passes integrity_check and the
// server serves every business.
func TestKillDuringBookings(t *testing.T) {
	rounds, tenants := envInt("RESERVA_CRASH_ROUNDS", 3), envInt("RESERVA_CRASH_TENANTS", 6)
	dir := t.TempDir()
	bin := filepath.Join(dir, "reserva")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/reserva/reserva").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	var slugs []string
	for i := range tenants {
		slug := fmt.Sprintf("crash-%d", i)
		if out, err := exec.Command(bin, "tenants", "create", "--data", data, "--slug", slug, "--name", "Crash "+slug,
			"--timezone", "Europe/Madrid", "--demo").CombinedOutput(); err != nil {
			t.Fatalf("create %s: %v\n%s", slug, err, out)
		}
		slugs = append(slugs, slug)
	}

	var mu sync.Mutex
	var sent []*booking
	outcomes := map[string]int{}
	answers := 0
	killed := 0
	for round := range rounds {
		s := start(t, bin, data)
		// Retry what the last round left unanswered, with the same idempotency keys, as a client
		// would after a network error; then new bookings until the kill.
		mu.Lock()
		var retry []*booking
		for _, b := range sent {
			if !b.answered {
				retry = append(retry, b)
			}
		}
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		send := func(b *booking) {
			r, err := gql(ctx, s.url, b.tenant, createBooking, map[string]any{"input": map[string]any{
				"serviceId": b.service, "start": b.start, "idempotencyKey": b.key,
				"customer": map[string]any{"name": "Crash " + b.key, "email": b.key + "@crash.example"}}})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				answers++
			}
			switch {
			case err != nil:
				outcomes["no answer"]++
			case len(r.Errors) > 0:
				b.answered = true
				code, _ := r.Errors[0].Extensions["code"].(string)
				outcomes[code]++
			case r.Data.CreateBooking.Booking.ID != "":
				b.acked, b.answered, b.id = true, true, r.Data.CreateBooking.Booking.ID
				outcomes["booked"]++
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
					mu.Lock()
					sent = append(sent, b)
					mu.Unlock()
					inner.Go(func() { send(b) })
					if n%2 == 1 {
						inner.Wait()
					}
				}
				inner.Wait()
			})
		}
		// The kill comes at a random moment while the bookings are in flight: after a random
		// number of this round's answers.
		killAt := answers + 1 + rand.IntN(tenants*4)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			n := answers
			mu.Unlock()
			if n >= killAt {
				break
			}
		}
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.exited
		killed++
		cancel()
		wg.Wait()
	}

	acked := 0
	for _, b := range sent {
		if b.acked {
			acked++
		}
	}
	t.Logf("%d rounds, %d kills, %d bookings sent, %d acknowledged; answers: %v", rounds, killed, len(sent), acked, outcomes)
	if acked == 0 {
		t.Fatal("no booking was acknowledged: the test proves nothing")
	}

	// Look at the files with the server down.
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
		db, err := sql.Open("sqlite3", "file:"+paths[slug])
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
				t.Errorf("%s: acknowledged booking %s (id %s) is lost", slug, b.key, b.id)
			case b.acked && strconv.FormatInt(id.Int64, 10) != b.id:
				t.Errorf("%s: booking %s acknowledged as %s, stored as %d", slug, b.key, b.id, id.Int64)
			}
		}
		_ = db.Close()
	}

	// And the server comes back and serves every business.
	s := start(t, bin, data)
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
