package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// API tokens end with the sessions of the user who made them: signing out everywhere and
// resetting the password revoke them unless the user asks to keep them (whoever took the
// account over may have made one). Before, tokens survived both.
func TestTokensEndWithSessions(t *testing.T) {
	srv, m := site(t)
	owner := func() int64 {
		var id int64
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			u, err := s.Authenticate(ctx, "owner@acme.example", "correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			id = u.ID
		})
		return id
	}()
	newToken := func() string {
		var secret string
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			var err error
			if _, secret, err = s.CreateAPIToken(ctx, "integration", domain.RoleOwner, owner); err != nil {
				t.Fatal(err)
			}
		})
		return secret
	}
	works := func(secret string) bool {
		t.Helper()
		status, body, _ := send(t, browser(t), "POST", srv.URL+"/acme/graphql", `{"query":"{ me { apiTokenId } }"}`,
			map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + secret})
		return status == http.StatusOK && strings.Contains(body, `"apiTokenId":"`)
	}
	resetLink := func(c *http.Client) string { return resetLinkOf(t, srv.URL, m, c) }
	for _, tc := range []struct {
		name string
		keep bool
	}{
		{"SignOutEverywhere", false},
		{"SignOutEverywhereKeep", true},
		{"Reset", false},
		{"ResetKeep", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := newToken()
			if !works(secret) {
				t.Fatal("a new token does not work")
			}
			vals := url.Values{}
			if tc.keep {
				vals.Set("keepTokens", "yes")
			}
			c := browser(t)
			if strings.HasPrefix(tc.name, "Reset") {
				vals.Set("password", "correct horse battery")
				vals.Set("confirm", "correct horse battery")
				if status, _, doc := post(t, c, resetLink(c), vals); status != http.StatusSeeOther ||
					!strings.Contains(text(doc, `[data-testid="flash"]`), "API tokens") {
					t.Fatalf("reset: %d %q", status, text(doc, `[data-testid="flash"]`))
				}
			} else {
				signIn(t, srv.URL, c, "acme", "owner@acme.example")
				if status, _, _ := post(t, c, srv.URL+"/acme/admin/signout-everywhere", vals); status != http.StatusSeeOther {
					t.Fatalf("sign out everywhere: %d", status)
				}
			}
			if got := works(secret); got != tc.keep {
				t.Errorf("token works afterwards: %v, want %v", got, tc.keep)
			}
		})
	}
}

// resetLinkOf asks for a password reset of acme's owner with c and returns the mailed link.
func resetLinkOf(t *testing.T, srv string, m *tenancy.Manager, c *http.Client) string {
	t.Helper()
	if status, _, _ := post(t, c, srv+"/acme/admin/forgot", url.Values{"email": {"owner@acme.example"}}); status != http.StatusSeeOther {
		t.Fatalf("forgot: %d", status)
	}
	var link string
	withLease(t, m, "acme", func(ctx context.Context, l *tenancy.Lease) {
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, nil)
		msgs, err := s.DueMessages(ctx, 10)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("outbox: %v %d", err, len(msgs))
		}
		link = msgs[len(msgs)-1].LinkPath
		for _, msg := range msgs {
			if err := s.MessageSent(ctx, msg.ID); err != nil {
				t.Fatal(err)
			}
		}
	})
	return srv + "/acme/" + link
}
