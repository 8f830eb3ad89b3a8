package web_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// from is a client whose connections come from the local address ip (127.0.0.x), as if from
// another machine.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Jar: jar,
		Transport:     &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) }},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Guesses at one account from many addresses are slowed down per account: 40 wrong passwords
// from 4 addresses (each within its own address's allowance) and then the right one from a
// fifth used to sign in. Now the account backs off after 5 attempts; other accounts are not
// slowed down.
func TestLoginLimitPerAccount(t *testing.T) {
	srv, m := site(t)
	login := func(c *http.Client, slug, email, password string) (int, string) {
		t.Helper()
		status, body, _ := send(t, c, "POST", srv.URL+"/"+slug+"/admin/login",
			url.Values{"email": {email}, "password": {password}}.Encode(), form)
		return status, body
	}
	checked := 0
	for a := 1; a <= 4; a++ {
		c := from(t, fmt.Sprintf("127.0.0.%d", a))
		for range 10 {
			switch status, _ := login(c, "acme", "Owner@acme.example", "guess"); status {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("wrong guess from 127.0.0.%d: %d", a, status)
			}
		}
	}
	if checked != 6 {
		t.Errorf("%d of 40 guesses had their password checked, want 6 (5 free, then the back-off)", checked)
	}
	status, body := login(from(t, "127.0.0.5"), "acme", "owner@acme.example", "correct horse battery")
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts for this account") {
		t.Errorf("right password from a fifth address during the back-off: %d", status)
	}
	if status, _ := login(from(t, "127.0.0.5"), "other", "owner@other.example", "correct horse battery"); status != http.StatusSeeOther {
		t.Errorf("another account: %d", status)
	}
	// A password reset proves the owner has the address: the account signs in again at once.
	c := from(t, "127.0.0.5")
	vals := url.Values{"password": {"a brand new password"}, "confirm": {"a brand new password"}}
	if status, _, _ := post(t, c, resetLinkOf(t, srv.URL, m, c), vals); status != http.StatusSeeOther {
		t.Fatalf("reset: %d", status)
	}
	if status, _ := login(from(t, "127.0.0.6"), "acme", "owner@acme.example", "a brand new password"); status != http.StatusSeeOther {
		t.Errorf("sign-in after the reset: %d, want 303", status)
	}
}

// An email longer than any account's is refused as wrong at once: it is not kept in the
// per-account throttle (a body may hold a megabyte of it), logged, or shown back.
func TestLoginOverlongEmail(t *testing.T) {
	srv, _ := site(t)
	long := strings.Repeat("a", 100_000) + "@acme.example"
	status, body, _ := send(t, from(t, "127.0.0.9"), "POST", srv.URL+"/acme/admin/login",
		url.Values{"email": {long}, "password": {"guess"}}.Encode(), form)
	if status != http.StatusUnauthorized || !strings.Contains(body, "The email or password is wrong.") {
		t.Errorf("overlong email: %d", status)
	}
	if strings.Contains(body, strings.Repeat("a", 1000)) {
		t.Errorf("the page shows the overlong email back (%d bytes)", len(body))
	}
}
