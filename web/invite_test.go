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

// The owner turns their booking mail off and on again on the account page; a staff user has no
// such setting (their staff member's copy is theirs).
func TestAccountBookingMailSetting(t *testing.T) {
	srv, m := site(t)
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	notify := func() bool {
		var on bool
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			us, err := s.Users(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				if u.Email == "owner@acme.example" {
					on = u.NotifyBookings
				}
			}
		})
		return on
	}
	_, doc, _ := page(t, c, "GET", srv.URL+"/acme/admin/account", "")
	if _, ok := doc.Find(`[data-testid="notify-bookings"]`).Attr("checked"); !ok || !notify() {
		t.Error("booking mail is not on by default")
	}
	if status, _, doc := post(t, c, srv.URL+"/acme/admin/account/notify", url.Values{}); status != http.StatusSeeOther || notify() {
		t.Errorf("turning it off: %d, still on: %v", status, notify())
	} else if _, ok := doc.Find(`[data-testid="notify-bookings"]`).Attr("checked"); ok {
		t.Error("the account page still shows it on")
	}
	if status, _, _ := post(t, c, srv.URL+"/acme/admin/account/notify", url.Values{"notify": {"yes"}}); status != http.StatusSeeOther || !notify() {
		t.Errorf("turning it on: %d, on: %v", status, notify())
	}
}
