package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// "Sign in to your business" on the platform's home page: the address gets one mail (through a
// real SMTP server) listing the businesses where it has an account, with their sign-in links;
// the page answers the same for an unknown address, which gets no mail; requests are limited.
func TestFindMyBusiness(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := manager(t, e.Dir, e.Reg, nil)
	for _, b := range []struct{ slug, name, user string }{
		{"uno", "Studio Uno", "kim@example.com"}, {"dos", "Studio Dos", "other@example.com"}, {"tres", "Studio Tres", "Kim@Example.com"},
	} {
		tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: b.slug, Name: b.name, Timezone: "Europe/Rome"})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := m.Acquire(ctx, tn)
		_, err = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).CreateUser(ctx, domain.NewUser{
			Email: b.user, Name: "Kim", Role: domain.RoleOwner, Password: "correct horse battery"})
		l.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer((&web.Server{Tenants: m, GraphQL: graph.NewHandler(log), Log: log}).Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	find := func(email string) (int, string, string) {
		t.Helper()
		res, err := client.PostForm(srv.URL+"/signin", url.Values{"email": {email}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		return res.StatusCode, res.Header.Get("Location"), string(body)
	}
	known, knownTo, _ := find("KIM@example.com")
	unknown, unknownTo, _ := find("nobody@example.com")
	if known != http.StatusSeeOther || unknown != known || knownTo != unknownTo {
		t.Errorf("known address: %d %s, unknown: %d %s; want the same answer", known, knownTo, unknown, unknownTo)
	}
	if code, _, body := find("not-an-address"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "not an email address") {
		t.Errorf("a malformed address: %d, want 422 with a plain message", code)
	}
	find("third@example.com") // the third request of the minute (a malformed address did not count)
	if code, _, body := find("kim@example.com"); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many requests") {
		t.Errorf("a fourth request within the minute: %d, want 429", code)
	}
	res, err := http.Get(srv.URL + knownTo)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if !strings.Contains(string(page), "we have emailed it the sign-in links") {
		t.Errorf("the answer page does not say a mail was sent")
	}

	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "hello@reserva.example")
	if _, err := jobs.DeliverMail(ctx, m, jobs.MailConfig{Mailer: mailer, BaseURL: srv.URL + "/"}, true); err != nil {
		t.Fatal(err)
	}
	msgs := box.all()
	if len(msgs) != 1 || msgs[0].to != "kim@example.com" {
		t.Fatalf("%d mails, want one to kim@example.com", len(msgs))
	}
	mail := parse(t, msgs[0].data)
	for _, want := range []string{"Studio Uno", srv.URL + "/uno/admin/login", "Studio Tres", srv.URL + "/tres/admin/login"} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("the list lacks %q:\n%s", want, mail.Text)
		}
	}
	if strings.Contains(mail.Text, "Studio Dos") {
		t.Errorf("the list names a business where the address has no account:\n%s", mail.Text)
	}
	res, err = http.Get(srv.URL + "/uno/admin/login")
	if err == nil {
		_ = res.Body.Close()
	}
	if err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the sign-in link: %v %v", res, err)
	}
}
