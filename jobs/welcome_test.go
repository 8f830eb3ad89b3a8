package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/web"

	"net/http/httptest"
)

// Signing a business up through the real site queues a welcome mail to its owner, which a real
// SMTP server receives: the first steps (staff, hours, services, share the link), the link to
// the dashboard and the booking page's link, both of which open.
func TestWelcomeMailAfterSignup(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	m := manager(t, e.Dir, e.Reg, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ws := &web.Server{Tenants: m, GraphQL: graph.NewHandler(log), Log: log}
	srv := httptest.NewServer(ws.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(srv.URL+"/signup", url.Values{"name": {"Studio Uno"}, "slug": {"studio-uno"},
		"timezone": {"Europe/Rome"}, "email": {"Founder@Example.com"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up answered %d, want 303", res.StatusCode)
	}

	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "hello@reserva.example")
	if _, err := jobs.DeliverMail(ctx, m, jobs.MailConfig{Mailer: mailer, BaseURL: srv.URL}, true); err != nil {
		t.Fatal(err)
	}
	msgs := box.all()
	if len(msgs) != 1 || msgs[0].to != "founder@example.com" {
		t.Fatalf("%d mails (%v), want the welcome mail to founder@example.com", len(msgs), msgs)
	}
	mail := parse(t, msgs[0].data)
	if mail.Subject != "Welcome to Reserva: set up Studio Uno" {
		t.Errorf("subject %q", mail.Subject)
	}
	dashboard, site := srv.URL+"/studio-uno/admin", srv.URL+"/studio-uno/"
	for _, want := range []string{"Studio Uno is ready", "1. Staff", "2. Hours", "3. Services", "4. Share the link",
		"  " + dashboard + "\r\n", "  " + site + "\r\n"} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("welcome mail lacks %q:\n%s", want, mail.Text)
		}
	}
	for link, want := range map[string]string{dashboard: `data-testid="login`, site: "Studio Uno"} {
		res, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: status %d, want 200 and a page with %q", link, res.StatusCode, want)
		}
	}
}
