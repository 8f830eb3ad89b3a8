package graph_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/domain"
)

// A booking event reaches a subscribed client as it commits: the writer's commit wakes the
// subscription (it used to poll; docs/perf.md has what that cost). Logs the p50 and p90 from the start
// of the write (its fsync included) and from the commit's return, over 40 events on loopback.
func TestSubscriptionLatency(t *testing.T) {
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var avail struct {
		Availability []struct{ Slots []slot }
	}
	day := time.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	if errs := do(t, srv, "acme", `query($f: Date!) { availability(serviceId: "1", from: $f, to: $f) { slots { start } } }`, map[string]any{"f": day}, &avail); errs != nil {
		t.Fatal(errs)
	}
	var made struct {
		CreateBooking struct{ Booking struct{ ID string } }
	}
	if errs := do(t, srv, "acme", `mutation($in: CreateBookingInput!) { createBooking(input: $in) { booking { id } } }`,
		map[string]any{"in": map[string]any{"serviceId": "1", "start": avail.Availability[0].Slots[0].Start,
			"customer": map[string]any{"name": "Quick", "email": "quick@example.com"}}}, &made); errs != nil {
		t.Fatal(errs)
	}

	c := wsDial(t, ctx, srv, "acme")
	wsInit(ctx, c, tokens["acme"][domain.RoleStaff])
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { bookingEvents { id type } }`}}); err != nil {
		t.Fatal(err)
	}
	type arrival struct {
		at  time.Time
		msg string
	}
	arrivals := make(chan arrival, 64)
	go func() {
		defer close(arrivals)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			arrivals <- arrival{time.Now(), string(b)}
		}
	}()

	l := leaseTenant(ctx, t, "acme")
	defer l.Release()
	write := func() (started, committed time.Time) {
		started = time.Now()
		if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO booking_events (booking_id, type, actor, at) VALUES (?, 'confirmed', 'system', unixepoch())`, made.CreateBooking.Booking.ID); err != nil {
			t.Fatal(err)
		}
		return started, time.Now()
	}
	next := func(wait time.Duration) (arrival, bool) {
		select {
		case a, ok := <-arrivals:
			if !ok {
				t.Fatal("the connection ended")
			}
			var m struct{ Type string }
			if err := json.Unmarshal([]byte(a.msg), &m); err != nil || m.Type != "next" {
				t.Fatalf("got %s", a.msg)
			}
			return a, true
		case <-time.After(wait):
			return arrival{}, false
		}
	}
	// The subscription starts from the newest event when it runs: write until one arrives.
	for live := false; !live; {
		write()
		_, live = next(time.Second)
	}
	for drained := false; !drained; {
		select {
		case <-arrivals:
		default:
			drained = true
		}
	}

	var fromStart, fromCommit []time.Duration
	for range 40 {
		started, committed := write()
		a, ok := next(10 * time.Second)
		if !ok {
			t.Fatal("no event within 10 s of its commit")
		}
		fromStart = append(fromStart, a.at.Sub(started))
		fromCommit = append(fromCommit, max(0, a.at.Sub(committed)))
	}
	slices.Sort(fromStart)
	slices.Sort(fromCommit)
	p := func(d []time.Duration, q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	t.Logf("commit to client over %d events: from the write's start p50 %v p90 %v; from the commit's return p50 %v p90 %v",
		len(fromStart), p(fromStart, 0.5), p(fromStart, 0.9), p(fromCommit, 0.5), p(fromCommit, 0.9))
	// The target is 20 ms on an idle machine; the bound leaves room for a busy test machine and
	// still fails a poll of any useful interval.
	if p50 := p(fromStart, 0.5); p50 > 50*time.Millisecond {
		t.Errorf("p50 from the write's start %v; want under 50 ms", p50)
	}
}
