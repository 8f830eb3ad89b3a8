package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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

// An invited user gets a mail (through a real SMTP server) with a link to choose their
// password; the link works once, signs them in, and then, like an expired link or a wrong
// token, gets one plain message. Until then the account cannot be signed in to.
func TestInvitationLink(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := manager(t, e.Dir, e.Reg, nil)
	tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme Spa", Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := m.Acquire(ctx, tn)
	s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	u, err1 := s.InviteUser(ctx, domain.NewUser{Email: "Nina@Example.com", Name: "Nina", Role: domain.RoleStaff}, "Acme Spa")
	// An invitation sent eight days ago has expired.
	old := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) })
	_, err2 := old.InviteUser(ctx, domain.NewUser{Email: "late@example.com", Name: "Late", Role: domain.RoleStaff}, "Acme Spa")
	_, err3 := s.InviteUser(ctx, domain.NewUser{Email: "nina@example.com", Name: "Nina again", Role: domain.RoleStaff}, "Acme Spa")
	_, err4 := s.Authenticate(ctx, "nina@example.com", "")
	l.Release()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if domain.ErrorCode(err3) != domain.ECONFLICT {
		t.Errorf("inviting a taken email: %v, want ECONFLICT", err3)
	}
	if domain.ErrorCode(err4) != domain.EUNAUTHORIZED {
		t.Errorf("signing in before accepting: %v, want EUNAUTHORIZED", err4)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ws := &web.Server{Tenants: m, GraphQL: graph.NewHandler(log), Log: log}
	srv := httptest.NewServer(ws.Handler())
	defer srv.Close()
	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "hello@reserva.example")
	if _, err := jobs.DeliverMail(ctx, m, jobs.MailConfig{Mailer: mailer, BaseURL: srv.URL}, false); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	linkRE := regexp.MustCompile(regexp.QuoteMeta(srv.URL) + `/acme/admin/invite/\S+`)
	for _, r := range box.all() {
		mail := parse(t, r.data)
		if !strings.HasPrefix(mail.Subject, "You are invited to the Acme Spa dashboard") {
			t.Errorf("subject %q", mail.Subject)
		}
		links[r.to] = linkRE.FindString(mail.Text)
	}
	link, late := links[u.Email], links["late@example.com"]
	if link == "" || late == "" {
		t.Fatalf("invitation links %v, want one for %s and one for late@example.com", links, u.Email)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, target string, form url.Values) (int, string) {
		t.Helper()
		var res *http.Response
		var err error
		if method == "GET" {
			res, err = client.Get(target)
		} else {
			res, err = client.PostForm(target, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	const plain = "This invitation link does not work"
	choose := url.Values{"password": {"a fine long password"}, "confirm": {"a fine long password"}}
	if code, body := do("GET", link, nil); code != http.StatusOK || !strings.Contains(body, `data-testid="invite-submit"`) {
		t.Errorf("the link: %d, want 200 and the form", code)
	}
	for name, target := range map[string]string{
		"wrong secret": link[:len(link)-3] + "AAA", "wrong id": strings.Replace(link, "/invite/", "/invite/9", 1),
		"no secret": srv.URL + "/acme/admin/invite/1", "expired": late,
	} {
		for _, method := range []string{"GET", "POST"} {
			if code, body := do(method, target, choose); code != http.StatusGone || !strings.Contains(body, plain) {
				t.Errorf("%s, %s: %d, want 410 with %q", name, method, code, plain)
			}
		}
	}
	if code, _ := do("POST", link, choose); code != http.StatusSeeOther {
		t.Errorf("choosing the password: %d, want 303 to the dashboard", code)
	}
	if code, body := do("POST", link, choose); code != http.StatusGone || !strings.Contains(body, plain) {
		t.Errorf("the link a second time: %d, want 410 with %q", code, plain)
	}
	l, _ = m.Acquire(ctx, tn)
	_, err = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).Authenticate(ctx, "nina@example.com", "a fine long password")
	l.Release()
	if err != nil {
		t.Errorf("signing in with the chosen password: %v", err)
	}
}
