package crashtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/versitygw"
)

// TestRecoverAfterDiskLoss: with --replica on a real S3 server (versitygw) and the default
// sync acknowledgement, kill -9 the server while customers book, DELETE the whole data
// directory, rebuild it with `reserva recover` (eager and lazy rounds alternate), start again
// and go on; at the end every acknowledged booking is there exactly once, every database passes
// integrity_check and nothing overlaps. `make test` runs 2 rounds, `make crashtest` 10
// (RESERVA_REPLICA_ROUNDS).
func TestRecoverAfterDiskLoss(t *testing.T) {
	lost, acked, _ := diskLossRounds(t, "sync")
	if lost > 0 {
		t.Errorf("%d of %d acknowledged bookings lost with sync acknowledgement", lost, acked)
	}
}

// TestRecoverAfterDiskLossAsync is the same with --replica-ack async: acknowledged bookings may
// be lost (those not shipped within about a second of the kill); the test measures how many
// (the RPO) and still wants no double booking and whole databases.
func TestRecoverAfterDiskLossAsync(t *testing.T) {
	lost, acked, oldest := diskLossRounds(t, "async")
	t.Logf("RPO with --replica-ack async: %d of %d acknowledged bookings lost; the oldest was acknowledged %s before the kill",
		lost, acked, oldest.Round(time.Millisecond))
}

// diskLossRounds runs the rounds with acknowledgement ack and returns how many acknowledged
// bookings the recovered data lacks, how many were acknowledged, and how long before its kill
// the oldest lost one was acknowledged (the RPO in time).
func diskLossRounds(t *testing.T, ack string) (lost, acked int, oldest time.Duration) {
	gw := versitygw.Start(t)
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the reserva processes inherit it
	}
	rounds, tenants := envInt("RESERVA_REPLICA_ROUNDS", 2), envInt("RESERVA_REPLICA_TENANTS", 4)
	dir := t.TempDir()
	bin := buildReserva(t, dir)
	data := filepath.Join(dir, "data")
	url := gw.ReplicaURL("crash-" + ack)
	replicaFlags := []string{"--replica", url, "--replica-ack", ack}
	slugs := createBusinesses(t, bin, data, tenants)
	// The businesses existed, and were served with replication on, before the disaster.
	serveEvery(t, bin, data, slugs, replicaFlags...)

	ld := &load{outcomes: map[string]int{}}
	for round := range rounds {
		s := start(t, bin, data, replicaFlags...)
		bookAndKill(t, s, slugs, round, ld, true)
		if err := os.RemoveAll(data); err != nil { // the disk is lost
			t.Fatal(err)
		}
		args := []string{"recover", "--data", data, "--replica", url}
		if round%2 == 0 {
			args = append(args, "--eager")
		}
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			var stderr []byte
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				stderr = ee.Stderr
			}
			t.Fatalf("round %d: %v: %v\n%s%s", round, args, err, out, stderr)
		}
		t.Logf("round %d: %s", round, strings.TrimSpace(string(out)))
	}
	// Serving opens every business: those recovered lazily come back from the replica now.
	serveEvery(t, bin, data, slugs, replicaFlags...)
	acked = ld.acked()
	t.Logf("%s: %d rounds, each kill -9 then the data directory deleted; %d bookings sent, %d acknowledged; answers: %v",
		ack, rounds, len(ld.sent), acked, ld.outcomes)
	if acked == 0 {
		t.Fatal("no booking was acknowledged: the test proves nothing")
	}
	lost = checkBookings(t, data, slugs, ld.sent, ack == "async")
	for _, b := range ld.sent {
		if b.lost {
			oldest = max(oldest, b.kill.Sub(b.ackedAt))
		}
	}
	return lost, acked, oldest
}
