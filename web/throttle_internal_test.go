package web

import (
	"fmt"
	"testing"
	"time"
)

// The per-account back-off: 5 free attempts, then waits doubling from a minute up to 15
// minutes; refused attempts do not count; a success, or a day without attempts, starts afresh.
func TestAccountThrottle(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	a := newAccountThrottle(func() time.Time { return now })
	for i := range accountFreeAttempts {
		if wait, backoff := a.attempt("acme/x"); wait != 0 || backoff != 0 {
			t.Fatalf("free attempt %d: wait %s, backoff %s", i+1, wait, backoff)
		}
	}
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		if wait, backoff := a.attempt("acme/x"); wait != 0 || backoff != want {
			t.Fatalf("attempt after the wait: wait %s, backoff %s, want %s", wait, backoff, want)
		}
		now = now.Add(want - time.Second)
		if wait, _ := a.attempt("acme/x"); wait != time.Second {
			t.Fatalf("attempt a second early: wait %s", wait)
		}
		if wait, _ := a.attempt("other/x"); wait != 0 {
			t.Fatalf("another account waits %s", wait)
		}
		now = now.Add(time.Second)
	}
	a.succeeded("acme/x")
	if wait, backoff := a.attempt("acme/x"); wait != 0 || backoff != 0 {
		t.Errorf("after a success: wait %s, backoff %s", wait, backoff)
	}
	for range 10 {
		a.attempt("acme/y")
	}
	now = now.Add(accountForgetAfter + time.Hour)
	if wait, backoff := a.attempt("acme/y"); wait != 0 || backoff != 0 {
		t.Errorf("a day later: wait %s, backoff %s", wait, backoff)
	}
}

// A throttle full of made-up emails forgets those, not the accounts that are backing off: a
// flood of junk sign-ins must not reset the back-off of the account being guessed at.
func TestAccountThrottleFullKeepsBackoffs(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	a := newAccountThrottle(func() time.Time { return now })
	for range accountFreeAttempts + 1 {
		a.attempt("acme/owner")
	}
	for i := range maxAccounts {
		a.attempt(fmt.Sprintf("acme/junk-%d", i))
	}
	if wait, _ := a.attempt("acme/owner"); wait <= 0 {
		t.Errorf("after %d made-up emails the guessed account waits %s, want its back-off kept", maxAccounts, wait)
	}
	if n := len(a.accounts); n > maxAccounts {
		t.Errorf("%d accounts kept, want at most %d", n, maxAccounts)
	}
}
