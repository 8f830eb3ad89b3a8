package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A machine whose data directory is gone is rebuilt from a file:// replica alone: lazily (each
// business restored on its first open by serve --replica) and eagerly (recover --eager, with
// time and MB/s); a business is restored to a point in time and the registry rebuilt in place.
func TestCLIRecoverFromReplica(t *testing.T) {
	data := t.TempDir()
	rurl := "file://" + filepath.Join(t.TempDir(), "replica")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo", "--replica", rurl); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	id := tenantID(t, data, "acme")
	// A business never opened while replication was on: the replica has its registry row only.
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "ghost", "--name", "Ghost"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	base, errOut, stop := startServe(t, data, "--replica", rurl)
	// A first booking: acknowledged, so in the replica before the moment taken after it.
	if status, firstID, errs := book(t, base, "recover-0"); status != http.StatusOK || firstID == "" || len(errs) > 0 {
		t.Fatalf("createBooking = %d %q %v; log:\n%s", status, firstID, errs, errOut.String())
	}
	beforeBooking := time.Now().UTC()
	status, bookingID, errs := book(t, base, "recover-1")
	if status != http.StatusOK || bookingID == "" || len(errs) > 0 {
		t.Fatalf("createBooking = %d %q %v; log:\n%s", status, bookingID, errs, errOut.String())
	}
	stop()
	if err := os.RemoveAll(data); err != nil { // the disk is lost
		t.Fatal(err)
	}
	booked := func(dir string) int {
		return count(t, filepath.Join(dir, "tenants", id[:2], id+".db"), `SELECT count(*) FROM bookings WHERE id = ?`, bookingID)
	}

	t.Run("Lazy", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		code, out, errOut := reserva(t, "", "recover", "--data", dir, "--replica", rurl)
		if code != 0 || !strings.Contains(out, "Registry restored") || !strings.Contains(out, "first time it is opened") {
			t.Fatalf("recover: %d %q %q", code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "tenants", id[:2], id+".db")); !os.IsNotExist(err) {
			t.Errorf("without --eager the business was restored already: %v", err)
		}
		base, _, stop := startServe(t, dir, "--replica", rurl)
		res, err := http.Get(base + "/acme")
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("first open after recover: %d, want 200", res.StatusCode)
		}
		res, err = http.Get(base + "/ghost")
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a business the replica holds no copy of: %d, want 503", res.StatusCode)
		}
		stop()
		if n := booked(dir); n != 1 {
			t.Errorf("recovered business holds the acknowledged booking %d times, want 1", n)
		}
		if _, list, _ := reserva(t, "", "tenants", "list", "--data", dir); !strings.Contains(list, "is missing and the replica holds no copy") {
			t.Errorf("tenants list does not say why ghost failed:\n%s", list)
		}
	})

	t.Run("Eager", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		code, out, errOut := reserva(t, "", "recover", "--data", dir, "--replica", rurl, "--eager")
		if code != 1 || !regexp.MustCompile(`Recovered the registry and 1 of 2 businesses, [0-9.]+ MB in \S+ \([0-9.]+ MB/s\)`).MatchString(out) ||
			!strings.Contains(errOut, "1 businesses could not be restored") || !strings.Contains(errOut, "ghost: ") {
			t.Fatalf("recover --eager: %d %q %q", code, out, errOut)
		}
		if n := booked(dir); n != 1 {
			t.Errorf("recovered business holds the acknowledged booking %d times, want 1", n)
		}
		code, out, errOut = reserva(t, "", "jobs", "run", "replica-check", "--data", dir, "--replica", rurl)
		if code != 0 || !strings.Contains(out, "replica-check: 1 restored from the replica and verified, 1 not in the replica, 0 failed") {
			t.Errorf("jobs run replica-check: %d %q %q", code, out, errOut)
		}
		code, _, errOut = reserva(t, "", "recover", "--data", dir, "--replica", rurl)
		if code != 1 || !strings.Contains(errOut, "already has a registry") {
			t.Errorf("recover over a data directory: %d %q", code, errOut)
		}

		// Point in time: before the booking.
		code, out, errOut = reserva(t, "", "restore", "--data", dir, "--replica", rurl, "--from-replica", "--tenant", "acme",
			"--at", beforeBooking.Format(time.RFC3339Nano))
		if code != 0 || !strings.Contains(out, "Restored acme to its copy as of") {
			t.Fatalf("restore --from-replica --at: %d %q %q", code, out, errOut)
		}
		if n := booked(dir); n != 0 {
			t.Errorf("restored to before the booking, it holds it %d times", n)
		}
		if n := count(t, filepath.Join(dir, "tenants", id[:2], id+".db"), `SELECT count(*) FROM bookings WHERE idempotency_key = 'recover-0'`); n != 1 {
			t.Errorf("restored to after the first booking, it holds it %d times, want 1", n)
		}
		code, out, errOut = reserva(t, "", "restore", "--data", dir, "--replica", rurl, "--from-replica", "--tenant", "acme", "--into", "acme-copy")
		if code != 0 || !strings.Contains(out, "into the new business acme-copy") {
			t.Fatalf("restore --from-replica --into: %d %q %q", code, out, errOut)
		}

		code, out, errOut = reserva(t, "", "restore", "--data", dir, "--replica", rurl, "--from-replica", "--registry")
		if code != 0 || !strings.Contains(out, "The replaced registry is kept at") {
			t.Fatalf("restore --registry: %d %q %q", code, out, errOut)
		}
		if _, list, _ := reserva(t, "", "tenants", "list", "--data", dir); !strings.Contains(list, id) {
			t.Errorf("after restoring the registry, tenants list:\n%s", list)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		dir := t.TempDir()
		for _, args := range [][]string{
			{"restore", "--data", dir, "--from-replica", "--tenant", "acme"},
			{"restore", "--data", dir, "--registry"},
			{"restore", "--data", dir, "--replica", rurl, "--from-replica", "--tenant", "acme", "--at", "yesterday"},
			{"recover", "--data", dir},
			{"jobs", "run", "replica-check", "--data", dir},
		} {
			if code, _, errOut := reserva(t, "", args...); code != 2 {
				t.Errorf("%v: %d %q, want a usage error", args, code, errOut)
			}
		}
		code, _, errOut := reserva(t, "", "recover", "--data", dir, "--replica", "file://"+filepath.Join(dir, "empty"))
		if code != 1 || !strings.Contains(errOut, "holds no registry") {
			t.Errorf("recover from an empty replica: %d %q", code, errOut)
		}
	})
}

// A business created from the command line with --replica is in the replica when the command
// returns, with the registry that names it: a data directory lost before any server opened it
// is recovered with it, and it opens with its data.
func TestCLICreateReplicates(t *testing.T) {
	data := t.TempDir()
	rurl := "file://" + filepath.Join(t.TempDir(), "replica")
	code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo", "--replica", rurl)
	if code != 0 || !strings.Contains(out, "Replicated acme and the registry") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	id := tenantID(t, data, "acme")
	file := func(dir string) string { return filepath.Join(dir, "tenants", id[:2], id+".db") }
	services := count(t, file(data), `SELECT count(*) FROM services`)
	if services == 0 {
		t.Fatal("the demo business has no services")
	}
	if err := os.RemoveAll(data); err != nil { // the disk is lost
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if code, out, errOut := reserva(t, "", "recover", "--data", dir, "--replica", rurl, "--eager"); code != 0 || !strings.Contains(out, "1 of 1 businesses") {
		t.Fatalf("recover: %d %q %q", code, out, errOut)
	}
	if n := count(t, file(dir), `SELECT count(*) FROM services`); n != services {
		t.Errorf("the recovered business has %d services, want %d", n, services)
	}
	base, errLog, stop := startServe(t, dir)
	res, err := http.Get(base + "/acme")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	stop()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the recovered business answers %d, want 200; log:\n%s", res.StatusCode, errLog.String())
	}
}

// With another process on the data directory (a server, which ships the registry itself), create
// with --replica does not ship from a second process: one file, one shipper. It says so.
func TestCLICreateBesideServerDoesNotReplicate(t *testing.T) {
	data := t.TempDir()
	replicaDir := filepath.Join(t.TempDir(), "replica")
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "first", "--name", "First"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	unlock, err := lockDataDir(data) // as serve holds it
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--replica", "file://"+replicaDir)
	if code != 0 || strings.Contains(out, "Replicated") || !strings.Contains(errOut, "not replicating from here") {
		t.Fatalf("create beside a server: %d %q %q", code, out, errOut)
	}
	if ents, err := os.ReadDir(replicaDir); err == nil && len(ents) > 0 {
		t.Errorf("the replica holds %d entries, want none shipped by the command", len(ents))
	}
}
