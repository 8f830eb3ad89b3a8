package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// reload does what a browser's reload does to the page a form's answer left it on: after a
// redirect it loads the redirect's target again (GET), otherwise it sends the form again.
func reload(t *testing.T, c *http.Client, u string, vals url.Values, status int, location string) (int, string) {
	t.Helper()
	if status == http.StatusSeeOther {
		s, body, _ := send(t, c, "GET", u[:strings.Index(u[8:], "/")+8]+location, "", nil)
		return s, body
	}
	s, body, _ := send(t, c, "POST", u, vals.Encode(), form)
	return s, body
}

// Creating an API token answers with a redirect to the page that shows the secret once:
// reloading that page shows it no more and creates no second token (answering the POST with
// the page made every reload create one).
func TestTokenCreatedOnceOnReload(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	u := srv.URL + "/acme/admin/tokens"
	vals := url.Values{"name": {"Zapier"}, "role": {"staff"}}
	status, loc, doc := post(t, c, u, vals)
	secret := text(doc, `[data-testid="token-secret"]`)
	if !strings.HasPrefix(secret, "rsv_") {
		t.Fatalf("create token: %d, no secret shown", status)
	}
	status2, body := reload(t, c, u, vals, status, loc)
	if status2 != http.StatusOK && status2 != http.StatusSeeOther || strings.Contains(body, secret) {
		t.Errorf("reload: %d, secret shown again: %v", status2, strings.Contains(body, secret))
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		tokens, err := s.APITokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tokens) != 1 {
			t.Errorf("%d tokens after creating one and reloading the page, want 1", len(tokens))
		}
	})
	if status != http.StatusSeeOther || loc != "/acme/admin/tokens" {
		t.Errorf("create token answered %d %q, want a redirect to the tokens page", status, loc)
	}
}

// Asking for a password reset answers with a redirect to the "on its way" page: reloading it
// mails no second link.
func TestForgotPasswordOnceOnReload(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	u := srv.URL + "/acme/admin/forgot"
	vals := url.Values{"email": {"owner@acme.example"}}
	status, loc, doc := post(t, c, u, vals)
	if !strings.Contains(text(doc, `[data-testid="forgot-sent"]`), "owner@acme.example") {
		t.Fatalf("forgot: %d, no notice", status)
	}
	if s, body := reload(t, c, u, vals, status, loc); s != http.StatusOK || strings.Contains(body, "forgot-sent") {
		t.Errorf("reload: %d, still says sent: %v", s, strings.Contains(body, "forgot-sent"))
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		msgs, err := s.DueMessages(ctx, 10)
		if err != nil || len(msgs) != 1 {
			t.Errorf("%d reset mails after asking once and reloading, want 1 (%v)", len(msgs), err)
		}
	})
}
