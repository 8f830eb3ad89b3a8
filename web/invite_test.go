package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// An owner who leaves the password empty on the users page invites the user by email: the
// invitation is queued, and the account cannot be signed in to before it is accepted.
func TestOwnerInvitesUserByEmail(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	u := url.Values{"name": {"Nina"}, "email": {"nina@acme.example"}, "role": {"staff"}, "password": {""}}
	status, _, doc := post(t, c, srv.URL+"/acme/admin/users", u)
	if status != http.StatusSeeOther || !strings.Contains(text(doc, `[data-testid="flash"]`), "nina@acme.example a link") {
		t.Fatalf("invite: %d %q", status, text(doc, `[data-testid="flash"]`))
	}
	var kind domain.MessageKind
	var link string
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		msgs, err := s.DueMessages(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			if msg.To == "nina@acme.example" {
				kind, link = msg.Kind, msg.LinkPath
			}
		}
	})
	if kind != domain.KindInvitation || !strings.HasPrefix(link, "admin/invite/") {
		t.Errorf("queued for nina: %q %q, want an invitation with its link", kind, link)
	}
	nina := browser(t)
	if status, _, _ := send(t, nina, "POST", srv.URL+"/acme/admin/login", url.Values{"email": {"nina@acme.example"}, "password": {""}}.Encode(), form); status == http.StatusSeeOther {
		t.Error("an invited user signed in without a password")
	}
}
