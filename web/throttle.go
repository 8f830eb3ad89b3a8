package web

import (
	"sync"
	"time"
)

// Sign-in back-off per account (see accountThrottle).
const (
	accountFreeAttempts = 5                // sign-ins an account allows before the back-off starts
	accountFirstBackoff = time.Minute      // the first wait; each further attempt doubles it
	accountMaxBackoff   = 15 * time.Minute // the longest wait
	accountForgetAfter  = 24 * time.Hour   // attempts this old no longer count
)

// accountThrottle slows down guessing at one account, whichever addresses the guesses come
// from (the per-address limit alone let 42 guesses from 4 addresses through). Every sign-in
// attempt counts until it succeeds, so parallel guesses cannot slip past: after
// accountFreeAttempts, each attempt makes the account refuse sign-ins for a while, doubling
// from accountFirstBackoff up to accountMaxBackoff. A success starts afresh. It applies to any
// email typed, so a refusal says nothing about whether the account exists.
type accountThrottle struct {
	now func() time.Time

	mu       sync.Mutex
	accounts map[string]*accountAttempts
}

type accountAttempts struct {
	n     int       // attempts since the last success
	last  time.Time // the latest counted attempt
	until time.Time // no sign-in before this
}

// maxAccounts bounds the throttle's memory (keys are at most a business id and a
// domain.MaxEmailLen email): past it, accounts that are not backing off are forgotten, and only
// if every one is does it start afresh.
const maxAccounts = 100_000

func newAccountThrottle(now func() time.Time) *accountThrottle {
	return &accountThrottle{now: now, accounts: map[string]*accountAttempts{}}
}

// attempt counts a sign-in attempt at account key. It returns how long to wait when the account
// refuses sign-ins now (the attempt is not counted), else 0; backoff is the wait this attempt
// starts for the next ones (0: none yet).
func (a *accountThrottle) attempt(key string) (wait, backoff time.Duration) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.accounts[key]
	if at == nil || now.Sub(at.last) > accountForgetAfter {
		if len(a.accounts) >= maxAccounts {
			a.forgetIdleLocked(now)
		}
		at = &accountAttempts{}
		a.accounts[key] = at
	}
	if now.Before(at.until) {
		return at.until.Sub(now), 0
	}
	at.n++
	at.last = now
	if extra := at.n - accountFreeAttempts; extra > 0 {
		backoff = accountMaxBackoff
		if extra <= 10 {
			backoff = min(accountFirstBackoff<<(extra-1), accountMaxBackoff)
		}
		at.until = now.Add(backoff)
	}
	return 0, backoff
}

// forgetIdleLocked makes room by forgetting every account that does not refuse sign-ins now: a
// flood of made-up emails must not wipe the back-off of the accounts being guessed at.
func (a *accountThrottle) forgetIdleLocked(now time.Time) {
	for key, at := range a.accounts {
		if !now.Before(at.until) {
			delete(a.accounts, key)
		}
	}
	if len(a.accounts) >= maxAccounts {
		clear(a.accounts)
	}
}

// succeeded forgets account key's attempts.
func (a *accountThrottle) succeeded(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.accounts, key)
}
