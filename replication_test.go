package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
	"github.com/reserva/reserva/tenancy"
)

// gql posts a GraphQL request to base/slug/graphql and decodes data into out; it returns the
// HTTP status and the errors' codes.
func gql(t *testing.T, base, slug, query string, vars map[string]any, out any) (int, []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	res, err := http.Post(base+"/"+slug+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }() // read in full below
	raw, _ := io.ReadAll(res.Body)
	var resp struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%s: %d %q", query, res.StatusCode, raw)
	}
	var codes []string
	for _, e := range resp.Errors {
		codes = append(codes, e.Extensions.Code+": "+e.Message)
	}
	if out != nil && len(resp.Data) > 0 && string(resp.Data) != "null" {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, codes
}

// book books the first free slot of acme's first service over GraphQL and returns the
// answer's status, the booking id ("" when there is none) and the errors.
func book(t *testing.T, base, key string) (int, string, []string) {
	t.Helper()
	var svc struct{ Services []struct{ ID string } }
	if _, errs := gql(t, base, "acme", `{ services { id } }`, nil, &svc); len(errs) > 0 || len(svc.Services) == 0 {
		t.Fatalf("services: %v %+v", errs, svc)
	}
	from := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, 14).Format(time.DateOnly)
	var av struct {
		Availability []struct{ Slots []struct{ Start string } }
	}
	if _, errs := gql(t, base, "acme", `query($s: ID!, $f: Date!, $t: Date!) { availability(serviceId: $s, from: $f, to: $t) { slots { start } } }`,
		map[string]any{"s": svc.Services[0].ID, "f": from, "t": to}, &av); len(errs) > 0 {
		t.Fatalf("availability: %v", errs)
	}
	var start string
	for _, d := range av.Availability {
		if len(d.Slots) > 0 {
			start = d.Slots[0].Start
			break
		}
	}
	if start == "" {
		t.Fatal("no free slot in two weeks")
	}
	var out struct {
		CreateBooking struct{ Booking struct{ ID string } }
	}
	status, errs := gql(t, base, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { booking { id } } }`,
		map[string]any{"in": map[string]any{"serviceId": svc.Services[0].ID, "start": start, "idempotencyKey": key,
			"customer": map[string]any{"name": "Ada", "email": "ada@example.com"}}}, &out)
	return status, out.CreateBooking.Booking.ID, errs
}

// TestServeReplicaAcknowledgedBooking: with --replica (gofakes3 over TLS, AWS_CA_BUNDLE set)
// and the default sync acknowledgement, a booking acknowledged over HTTP is already in the
// replica: restoring it into a fresh file, with the server still running, shows the booking;
// the registry is replicated too. With the replica unreachable, a booking is answered 503
// TENANT_UNAVAILABLE ("outcome unknown"), never acknowledged.
func TestServeReplicaAcknowledgedBooking(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	id := tenantID(t, data, "acme")
	s3 := replicatest.NewS3(t, "prod")
	base, errOut, stop := startServe(t, data, "--replica", s3.URL)

	status, bookingID, errs := book(t, base, "replicated-1")
	if status != http.StatusOK || bookingID == "" || len(errs) > 0 {
		t.Fatalf("createBooking = %d %q %v; log:\n%s", status, bookingID, errs, errOut.String())
	}

	// acme and the registry are attached, and bytes went out.
	_, metricsText, _ := httpGet(t, base+"/metrics")
	if !strings.Contains(metricsText, "\nreserva_replica_attached 2\n") || !regexp.MustCompile(`\nreserva_replica_shipped_bytes_total [1-9]`).MatchString(metricsText) {
		t.Errorf("/metrics lacks the replication figures:\n%s", grepLines(metricsText, "reserva_replica"))
	}

	// Restore while the server runs: the acknowledgement promised the replica has it.
	rep := replicatest.Open(t, s3.URL, replica.Options{})
	dir := t.TempDir()
	tenantCopy := filepath.Join(dir, "acme.db")
	if err := rep.Restore(context.Background(), replica.TenantName(id), tenantCopy, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, tenantCopy, `SELECT count(*) FROM bookings WHERE id = ?`, bookingID); n != 1 {
		t.Errorf("restored replica holds %d bookings %s, want 1", n, bookingID)
	}
	regCopy := filepath.Join(dir, "registry.db")
	if err := rep.Restore(context.Background(), replica.RegistryName, regCopy, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, regCopy, `SELECT count(*) FROM tenants WHERE id = ? AND slug = 'acme'`, id); n != 1 {
		t.Errorf("restored registry holds acme %d times, want 1", n)
	}

	// The replica goes away: a booking cannot be acknowledged.
	s3.SetDown(true)
	status, _, errs = book(t, base, "replicated-2")
	if status != http.StatusServiceUnavailable || len(errs) != 1 || !strings.HasPrefix(errs[0], "TENANT_UNAVAILABLE: outcome unknown") {
		t.Errorf("createBooking with the replica down = %d %v, want 503 TENANT_UNAVAILABLE outcome unknown", status, errs)
	}
	s3.SetDown(false) // for the final syncs of the shutdown
	stop()
}

func count(t *testing.T, path, q string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite3", tenancy.FileURL(path)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCLIDeleteErasesReplica: a business that serve replicated, deleted with the CLI given the
// same --replica, leaves nothing under the replica that names it.
func TestCLIDeleteErasesReplica(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	id := tenantID(t, data, "acme")
	s3 := replicatest.NewS3(t, "prod")
	base, errOut, stop := startServe(t, data, "--replica", s3.URL)
	if status, _, _ := httpGet(t, base+"/acme"); status != http.StatusOK {
		t.Fatalf("GET /acme = %d", status)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	named := func() (keys []string) {
		for _, k := range s3.Keys(t) {
			if strings.Contains(k, id) {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if len(named()) == 0 {
		t.Fatal("the replica holds nothing of acme after serving it")
	}
	if code, out, errOut := reserva(t, "", "tenants", "delete", "--data", data, "--slug", "acme", "--yes", "--replica", s3.URL); code != 0 {
		t.Fatalf("delete: %q %q", out, errOut)
	}
	if left := named(); len(left) != 0 {
		t.Errorf("after deleting acme the replica still holds %v", left)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServeReplicaAsync: with --replica-ack async a booking is answered at once even while
// the store is down (it is not held for the replica), and it reaches the replica later: here
// with the final sync of the shutdown.
func TestServeReplicaAsync(t *testing.T) {
	data := t.TempDir()
	if code, out, errOut := reserva(t, "", "tenants", "create", "--data", data, "--slug", "acme", "--name", "Acme", "--demo"); code != 0 {
		t.Fatalf("create: %q %q", out, errOut)
	}
	id := tenantID(t, data, "acme")
	s3 := replicatest.NewS3(t, "prod")
	base, errOut, stop := startServe(t, data, "--replica", s3.URL, "--replica-ack", "async")
	s3.SetDown(true)
	status, bookingID, errs := book(t, base, "async-1")
	if status != http.StatusOK || bookingID == "" || len(errs) > 0 {
		t.Fatalf("createBooking with the store down, async = %d %q %v; log:\n%s", status, bookingID, errs, errOut.String())
	}
	s3.SetDown(false)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	rep := replicatest.Open(t, s3.URL, replica.Options{})
	p := filepath.Join(t.TempDir(), "acme.db")
	if err := rep.Restore(context.Background(), replica.TenantName(id), p, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, p, `SELECT count(*) FROM bookings WHERE id = ?`, bookingID); n != 1 {
		t.Errorf("replica after shutdown holds %d bookings %s, want 1", n, bookingID)
	}
	if code, _, errOut := reserva(t, "", "serve", "--data", data, "--replica", s3.URL, "--replica-ack", "later"); code != 2 || !strings.Contains(errOut, "sync or async") {
		t.Errorf("serve --replica-ack later: exit %d, %q", code, errOut)
	}
}
