package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// outbox keeps the mail it is given.
type outbox struct {
	mu    sync.Mutex
	mails []jobs.Mail
}

func (o *outbox) Send(_ context.Context, m jobs.Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mails = append(o.mails, m)
	return nil
}

// The links that mails carry open the pages that serve them: the booking's manage link opens
// its booking, the reset link the form that sets a new password. The outbox (domain), the
// delivery (jobs) and the routes (web) build them apart; a route renamed in one place only
// would mail dead links, and no other test follows a mailed link back through the server.
func TestMailedLinksOpenTheirPages(t *testing.T) {
	ctx := context.Background()
	e := tenanttest.NewEnv(t)
	dir, reg := e.Dir, e.Reg
	m := manager(t, dir, reg, nil)
	tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: "acme", Name: "Acme Spa", Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	ana, svc := massageByAna(t, s, "")
	start := domain.DateOf(time.Now().In(l.Location)).AddDays(3).At(10*60, l.Location)
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start,
		Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, domain.NewUser{Email: "owner@acme.example", Name: "Olga",
		Role: domain.RoleOwner, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPasswordReset(ctx, "owner@acme.example", "Acme Spa"); err != nil {
		t.Fatal(err)
	}
	l.Release()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ws := &web.Server{Tenants: m, GraphQL: graph.NewHandler(log), Log: log}
	srv := httptest.NewServer(ws.Handler())
	defer srv.Close()

	box := &outbox{}
	if _, err := jobs.DeliverMail(ctx, m, jobs.MailConfig{Mailer: box, BaseURL: srv.URL + "/"}, false); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(srv.URL) + `/\S+`)
	pages := map[string]string{ // the first words of the subject: what the page must show
		"Your booking is confirmed": `data-testid="manage-page"`,
		"Reset your password":       `data-testid="reset-submit"`,
	}
	for _, mail := range box.mails {
		for subject, want := range pages {
			if !strings.HasPrefix(mail.Subject, subject) {
				continue
			}
			delete(pages, subject)
			u := link.FindString(mail.Body)
			if u == "" {
				t.Errorf("%q carries no link to the site:\n%s", mail.Subject, mail.Body)
				continue
			}
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
				t.Errorf("%q links to %s: status %d, want 200 and the page with %s", mail.Subject, u, res.StatusCode, want)
			}
		}
	}
	for subject := range pages {
		t.Errorf("no mail %q was delivered (%d mails)", subject, len(box.mails))
	}
}
