package replica_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/superfly/ltx"

	"github.com/reserva/reserva/replica"
)

// lagS3 is a plain-HTTP fake S3 that keeps, per replicated name, when each level-0 LTX file
// was written (its header's timestamp) and when its upload ended.
type lagS3 struct {
	url     string
	mu      sync.Mutex
	uploads map[string][]lagUpload
}

type lagUpload struct{ shipped, done time.Time }

func newLagS3(t testing.TB) *lagS3 {
	backend := s3mem.New()
	if err := backend.CreateBucket("reserva"); err != nil {
		t.Fatal(err)
	}
	f := &lagS3{uploads: map[string][]lagUpload{}}
	putDelay, _ := time.ParseDuration(os.Getenv("RESERVA_LAG_PUTDELAY"))
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dir := path.Dir(r.URL.Path)
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, ".ltx") || path.Base(dir) != "0" {
			fake.ServeHTTP(w, r)
			return
		}
		time.Sleep(putDelay) // a slow store (RESERVA_LAG_PUTDELAY)
		head := make([]byte, ltx.HeaderSize)
		n, _ := io.ReadFull(r.Body, head)
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head[:n]), r.Body), r.Body}
		fake.ServeHTTP(w, r)
		var h ltx.Header
		if n < ltx.HeaderSize || h.UnmarshalBinary(head) != nil {
			return
		}
		name := path.Base(path.Dir(path.Dir(dir))) // …/tenants/<name>/ltx/0/<file>
		f.mu.Lock()
		f.uploads[name] = append(f.uploads[name], lagUpload{time.UnixMilli(h.Timestamp), time.Now()})
		f.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	f.url = "s3://reserva/lag?endpoint=" + srv.URL + "&region=us-east-1"
	return f
}

// TestReplicationLagFleet is a measurement, not a check: with RESERVA_LAG_FLEET=16,256,1024 it
// attaches that many databases to an S3 replica, commits to some of them at
// RESERVA_LAG_RATE commits/s (default 50, the bench's bookings at 1,000 req/s) for
// RESERVA_LAG_SECONDS (default 10) with async acknowledgement (no Sync; then with a Ship after
// each commit, as tenancy does), and logs the time
// from each commit until the replica holds it: p50, p99 and max, split into the wait for the
// WAL to be read (commit to LTX file) and for the upload (LTX file to replica).
func TestReplicationLagFleet(t *testing.T) {
	sizes := os.Getenv("RESERVA_LAG_FLEET")
	if sizes == "" {
		t.Skip("a measurement: set RESERVA_LAG_FLEET=16,256,1024 to run it")
	}
	rate, secs := 50, 10
	if v, err := strconv.Atoi(os.Getenv("RESERVA_LAG_RATE")); err == nil {
		rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("RESERVA_LAG_SECONDS")); err == nil {
		secs = v
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, ship := range []bool{false, true} {
			t.Run(fmt.Sprintf("dbs=%d/ship=%v", n, ship), func(t *testing.T) {
				measureLag(t, n, rate, time.Duration(secs)*time.Second, ship)
			})
		}
	}
}

type lagCommit struct {
	name string
	at   time.Time
}

func measureLag(t *testing.T, n, rate int, d time.Duration, ship bool) {
	ctx := context.Background()
	s3 := newLagS3(t)
	dir := t.TempDir()
	var interval time.Duration
	if v, err := time.ParseDuration(os.Getenv("RESERVA_LAG_INTERVAL")); err == nil {
		interval = v
	}
	r, err := replica.Open(ctx, s3.url, replica.Options{Logger: slog.New(slog.DiscardHandler), SyncInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(ctx) }) // a measurement's replica
	active := min(n, 256)
	if v, err := strconv.Atoi(os.Getenv("RESERVA_LAG_ACTIVE")); err == nil {
		active = min(n, v)
	}
	kib, _ := strconv.Atoi(os.Getenv("RESERVA_LAG_DBKIB")) // each database's size, as the bench's
	dbs := make([]*sql.DB, active)
	hs := make([]*replica.Handle, active)
	t0 := time.Now()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("t%04d.db", i))
		db := openDB(t, p)
		if kib > 0 {
			if _, err := db.Exec(`INSERT INTO bookings(what) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?) SELECT hex(randomblob(500)) FROM n`, kib); err != nil {
				t.Fatal(err)
			}
		}
		if i < active {
			dbs[i] = db
		} else if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		h, err := r.Attach(ctx, replica.TenantName(fmt.Sprintf("t%04d", i)), p)
		if err != nil {
			t.Fatal(err)
		}
		if i < active {
			hs[i] = h
		}
	}
	t.Logf("%d attached in %s; %d commits/s over %d of them for %s", n, time.Since(t0).Round(time.Millisecond), rate, active, d)
	settle := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("RESERVA_LAG_SETTLE")); err == nil {
		settle = v
	}
	time.Sleep(settle) // every database's first sync out of the way
	cpu0, idle0 := cpuTime(), time.Now()
	if p := os.Getenv("RESERVA_LAG_IDLEPROF"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		pprof.StopCPUProfile()
		_ = f.Close()
	} else {
		time.Sleep(3 * time.Second)
	}
	idleCPU := (cpuTime() - cpu0).Seconds() / time.Since(idle0).Seconds()
	cpu0, busy0 := cpuTime(), time.Now()

	var mu sync.Mutex
	var commits []lagCommit
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	rnd := rand.New(rand.NewPCG(1, 2))
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		i := rnd.IntN(active)
		wg.Go(func() {
			if _, err := dbs[i].Exec(`INSERT INTO bookings(what) VALUES ('x')`); err != nil {
				t.Error(err)
				return
			}
			at := time.Now()
			if ship {
				hs[i].Ship()
			}
			mu.Lock()
			commits = append(commits, lagCommit{fmt.Sprintf("t%04d", i), at})
			mu.Unlock()
		})
	}
	tick.Stop()
	wg.Wait()
	busyCPU := (cpuTime() - cpu0).Seconds() / time.Since(busy0).Seconds()
	time.Sleep(5 * time.Second) // the last commits ship

	var total, toLTX, upload []float64
	byTime := map[int][]float64{}
	missing := 0
	s3.mu.Lock()
	for _, c := range commits {
		var u lagUpload
		for _, x := range s3.uploads[c.name] {
			if !x.shipped.Before(c.at.Truncate(time.Millisecond)) && (u.done.IsZero() || x.done.Before(u.done)) {
				u = x
			}
		}
		if u.done.IsZero() {
			missing++
			continue
		}
		total = append(total, float64(u.done.Sub(c.at).Milliseconds()))
		b := int(c.at.Sub(busy0) / (2 * time.Second))
		byTime[b] = append(byTime[b], float64(u.done.Sub(c.at).Milliseconds()))
		toLTX = append(toLTX, float64(u.shipped.Sub(c.at).Milliseconds()))
		upload = append(upload, float64(u.done.Sub(u.shipped).Milliseconds()))
	}
	s3.mu.Unlock()
	q := func(xs []float64) string {
		slices.Sort(xs)
		if len(xs) == 0 {
			return "-"
		}
		at := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
		return fmt.Sprintf("p50 %4.0f p99 %5.0f max %5.0f ms", at(0.5), at(0.99), xs[len(xs)-1])
	}
	t.Logf("dbs=%d commits=%d missing=%d, CPU idle %.2f busy %.2f cores\n  commit->replica %s\n  commit->LTX     %s\n  LTX->replica    %s",
		n, len(commits), missing, idleCPU, busyCPU, q(total), q(toLTX), q(upload))
	for b := 0; b <= int(d/(2*time.Second)); b++ {
		if xs := byTime[b]; len(xs) > 0 {
			t.Logf("  from %2ds (:%02d): %s", 2*b, busy0.Add(time.Duration(b)*2*time.Second).Second(), q(xs))
		}
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
