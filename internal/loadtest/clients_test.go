package main

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/reserva/reserva/internal/ratelimit"
)

// The load generator's bookings come from their own customers, as a real site's do, through
// the server's trusted-proxy header: one business takes many more bookings from the load
// generator's one address than the per-address limit allows, and none is refused. The noisy
// neighbour's writers made none in the bench's second and third runs when they all shared 200
// addresses' allowance.
func TestBookingsComeFromTheirOwnCustomers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	*bin = filepath.Join(dir, "reserva")
	if out, err := exec.Command("go", "build", "-o", *bin, "github.com/reserva/reserva").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	*tenantsN, *activeN, *coldN, *noisyRows = 1, 1, 0, 0
	data := filepath.Join(dir, "data")
	slugs, _, noisy, _ := provision(context.Background(), data)
	srv := startServer(data)
	t.Cleanup(srv.stop)

	c := newClientsFrom(1)
	c.noisy = noisy
	r := rand.New(rand.NewPCG(1, 2))
	n := 4 * ratelimit.DefaultBookingBurst
	for i := range n {
		if err := c.op(srv.url, slugs[0], "book", r); err != nil {
			t.Fatalf("booking %d of %d from one address: %v", i+1, n, err)
		}
	}
}
