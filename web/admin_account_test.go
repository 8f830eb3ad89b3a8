package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A dashboard user changes their own name and password on the account page: mistakes come
// back next to their field; a new password ends their other sessions, keeps this one, and is
// the one that signs in from then on.
func TestAccountNameAndPassword(t *testing.T) {
	srv, _ := site(t)
	c, other := browser(t), browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	signIn(t, srv.URL, other, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin/account"

	if status, _, doc := post(t, c, base+"/name", url.Values{"name": {"   "}}); status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-name"]`) == "" {
		t.Errorf("empty name: %d", status)
	}
	status, loc, doc := post(t, c, base+"/name", url.Values{"name": {"Marta Ruiz"}})
	if status != http.StatusSeeOther || loc != "/acme/admin/account" || text(doc, `[data-testid="admin-user"]`) != "Marta Ruiz" ||
		attr(t, doc, "#name", "value") != "Marta Ruiz" {
		t.Errorf("rename: %d %s %q", status, loc, text(doc, `[data-testid="admin-user"]`))
	}

	pw := url.Values{"current": {"wrong password here"}, "newPassword": {"a whole new password"}, "confirmPassword": {"a whole new password"}}
	if status, _, doc = post(t, c, base+"/password", pw); status != http.StatusUnprocessableEntity ||
		!strings.Contains(text(doc, `[data-testid="error-current"]`), "not your current password") || attr(t, doc, "#current", "value") != "" {
		t.Errorf("wrong current password: %d %q", status, text(doc, `[data-testid="error-current"]`))
	}
	pw.Set("current", "correct horse battery")
	pw.Set("confirmPassword", "a whole new passwort")
	if status, _, doc = post(t, c, base+"/password", pw); status != http.StatusUnprocessableEntity || text(doc, `[data-testid="error-confirmPassword"]`) == "" {
		t.Errorf("passwords differ: %d", status)
	}
	pw.Set("newPassword", "short")
	pw.Set("confirmPassword", "short")
	if status, _, doc = post(t, c, base+"/password", pw); status != http.StatusUnprocessableEntity || !strings.Contains(text(doc, `[data-testid="error-newPassword"]`), "at least") {
		t.Errorf("short password: %d %q", status, text(doc, `[data-testid="error-newPassword"]`))
	}
	pw.Set("newPassword", "a whole new password")
	pw.Set("confirmPassword", "a whole new password")
	if status, _, doc = post(t, c, base+"/password", pw); status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "password is changed") {
		t.Fatalf("change password: %d %q", status, text(doc, `[data-testid="flash"]`))
	}
	if status, _, _ := send(t, c, "GET", srv.URL+"/acme/admin/customers", "", nil); status != http.StatusOK {
		t.Errorf("this session after the change: %d", status)
	}
	if status, _, _ := send(t, other, "GET", srv.URL+"/acme/admin/customers", "", nil); status != http.StatusSeeOther {
		t.Errorf("another session survived the change: %d", status)
	}
	login := func(password string) int {
		status, _, _ := send(t, browser(t), "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"owner@acme.example"}, "password": {password}}.Encode(), form)
		return status
	}
	if got := login("correct horse battery"); got == http.StatusSeeOther {
		t.Error("the old password still signs in")
	}
	if got := login("a whole new password"); got != http.StatusSeeOther {
		t.Errorf("the new password: %d", got)
	}
}
