package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
)

// A job over every tenant finishes the others when one tenant is stuck (a delete waiting for a
// lease that is never given back, new leases waiting for the delete): it waits for that one at
// most Config.AcquireWait and reports it failed. Before, the mail and reminder jobs hung with it
// and no business sent mail.
func TestJobsSkipStuckTenant(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	dir, reg := e.Dir, e.Reg
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Logger: quiet,
		AcquireWait: 100 * time.Millisecond, ExclusiveWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(ctx) }()
	var stuck tenancy.Tenant
	for i := range 5 {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: fmt.Sprintf("biz-%d", i), Name: "Biz", Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Acquire(ctx, tn) // every tenant open, for the jobs that tend the open ones
		if err != nil {
			t.Fatal(err)
		}
		// A message due in each.
		if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO outbox (kind, to_addr, subject, body, created_at, next_attempt_at)
			VALUES ('booking_created', 'c@x.example', 'Hi', 'Body', 0, 0)`); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			stuck = tn
			defer l.Release()
			continue
		}
		l.Release()
	}
	dctx, cancel := context.WithCancel(ctx)
	deleted := make(chan error, 1)
	go func() { deleted <- m.Delete(dctx, stuck.ID) }()
	defer func() {
		cancel()
		if err := <-deleted; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("delete of the stuck tenant: %v; want it cancelled", err)
		}
	}()
	for func() bool { // until the delete has closed the gate
		c, cc := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cc()
		l, err := m.Acquire(c, stuck)
		if err == nil {
			l.Release()
		}
		return err == nil
	}() {
	}

	// run runs job and checks that it returns within a minute, failing with the stuck tenant
	// named when wantStuck (a run with a failed tenant is a failed run).
	run := func(name string, wantStuck bool, job func() (string, error)) string {
		t.Helper()
		type result struct {
			s   string
			err error
		}
		done := make(chan result, 1)
		go func() { s, err := job(); done <- result{s, err} }()
		select {
		case r := <-done:
			switch {
			case wantStuck && (r.err == nil || !strings.Contains(r.err.Error(), "biz-2")):
				t.Errorf("%s: %v, want biz-2 reported failed", name, r.err)
			case !wantStuck && r.err != nil:
				t.Errorf("%s: %v", name, r.err)
			}
			return r.s
		case <-time.After(time.Minute):
			t.Fatalf("%s still running after a minute: one stuck tenant stalled it", name)
		}
		return ""
	}
	stats := run("stats", true, func() (string, error) { r, err := jobs.Stats(ctx, m, time.Now()); return r.String(), err })
	if want := "4 tenants counted, 1 failed [biz-2]"; !strings.Contains(stats, want) {
		t.Errorf("stats: %s, want %q", stats, want)
	}
	var sent int
	mailer := countingMailer{sent: &sent}
	mail := jobs.MailConfig{Mailer: mailer}
	// The reminder run reports the stuck tenant as failed, after the others' mail went.
	done := make(chan error, 1)
	go func() { _, err := jobs.DeliverMail(ctx, m, mail, true); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "[biz-2]") {
			t.Errorf("reminders: %v, want biz-2 reported failed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("reminders still running after a minute: one stuck tenant stalled them")
	}
	if sent != 4 {
		t.Errorf("%d messages sent, want those of the 4 tenants that are not stuck", sent)
	}
	run("mail", true, func() (string, error) { r, err := jobs.DeliverMail(ctx, m, mail, false); return r.String(), err })
	hk := run("housekeeping", true, func() (string, error) { r, err := jobs.Housekeeping(ctx, m); return r.String(), err })
	if want := "4 tenants"; !strings.Contains(hk, want) {
		t.Errorf("housekeeping: %s, want %q", hk, want)
	}
}

// countingMailer counts what it is asked to send (the jobs send one message at a time).
type countingMailer struct{ sent *int }

func (c countingMailer) Send(context.Context, jobs.Mail) error { *c.sent++; return nil }

// stallingMailer never finishes sending to stall@: it waits until it is cancelled (or the test
// ends, so that a run that fails the test does not also hang it).
type stallingMailer struct {
	sent    *int
	testEnd chan struct{}
}

func (s stallingMailer) Send(ctx context.Context, m jobs.Mail) error {
	if m.To == "stall@x.example" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.testEnd:
			return errors.New("test over")
		}
	}
	*s.sent++
	return nil
}

// A mail server that stalls on one business's message holds up that business's mail for at
// most MailConfig.PerTenant: the run goes on to the other businesses, and the stalled message
// is recorded as failed, to be retried.
func TestMailStalledTenantBounded(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	dir, reg := e.Dir, e.Reg
	m := manager(t, dir, reg, nil)
	for i := range 4 {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: fmt.Sprintf("biz-%d", i), Name: "Biz", Timezone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		to := "c@x.example"
		if i == 1 {
			to = "stall@x.example"
		}
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.DB.Write.ExecContext(ctx, `INSERT INTO outbox (kind, to_addr, subject, body, created_at, next_attempt_at)
			VALUES ('booking_created', ?, 'Hi', 'Body', 0, 0), ('booking_created', 'd@x.example', 'Hi', 'Body', 0, 0)`, to); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	var sent int
	testEnd := make(chan struct{})
	t.Cleanup(func() { close(testEnd) }) // before the Manager closes: cleanups run last first
	cfg := jobs.MailConfig{Mailer: stallingMailer{sent: &sent, testEnd: testEnd}, PerTenant: 100 * time.Millisecond}
	type result struct {
		r   jobs.MailResult
		err error
	}
	done := make(chan result, 1)
	go func() { r, err := jobs.DeliverMail(ctx, m, cfg, true); done <- result{r, err} }()
	select {
	case res := <-done:
		if res.err != nil || sent != 6 || res.r.Failed != 1 {
			t.Errorf("mail run: %v, %d sent, %d failed; want 6 sent (biz-1's second waits), 1 failed", res.err, sent, res.r.Failed)
		}
	case <-time.After(time.Minute):
		t.Fatal("mail run still going after a minute: one stalled business held up the others")
	}
}
