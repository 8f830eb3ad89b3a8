package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
)

// sink is a real SMTP server on 127.0.0.1 that keeps what it receives.
type sink struct {
	mu   sync.Mutex
	msgs []received
}

type received struct{ from, to, data string }

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink     *sink
	from, to string
}

func (s *sinkSession) Reset()                                      {}
func (s *sinkSession) Logout() error                               { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = to; return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, received{s.from, s.to, string(b)})
	s.sink.mu.Unlock()
	return err
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// parsedMail is a received message as a mail client reads it: transfer encodings undone.
type parsedMail struct {
	Header    gomail.Header
	Subject   string
	Text, ICS string
	ICSType   string // the calendar part's Content-Type
}

// parse reads data as a MIME message with go-message, failing the test if it is not one.
func parse(t *testing.T, data string) parsedMail {
	t.Helper()
	mr, err := gomail.CreateReader(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not a MIME message: %v\n%s", err, data)
	}
	out := parsedMail{Header: mr.Header}
	if out.Subject, err = mr.Header.Subject(); err != nil {
		t.Fatalf("subject: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read part: %v\n%s", err, data)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			out.Text += string(b)
		case *gomail.AttachmentHeader:
			out.ICS, out.ICSType = string(b), h.Get("Content-Type")
		}
	}
	return out
}

// serveSMTP starts the sink on addr ("127.0.0.1:0" for any port) and returns its address.
func serveSMTP(t *testing.T, s *sink, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go func() { _ = srv.Serve(ln) }() // returns when the cleanup closes it
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// mailBusiness provisions a business in Europe/Madrid in a fresh data directory, for the mail
// tests: its manager, the tenant, and a clock that reads now (Unix nanoseconds, from the real
// time) so that a test can move it.
func mailBusiness(t *testing.T, slug, name string) (*tenancy.Manager, tenancy.Tenant, *atomic.Int64, func() time.Time) {
	t.Helper()
	e := tenanttest.NewEnv(t)
	m := manager(t, e.Dir, e.Reg, nil)
	tn, err := m.Provision(context.Background(), tenancy.NewTenant{Slug: slug, Name: name, Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	now := new(atomic.Int64)
	now.Store(time.Now().UnixNano())
	return m, tn, now, func() time.Time { return time.Unix(0, now.Load()) }
}

// acquireStore leases tn and returns the lease, for the caller to release, with a Store over it
// on clock.
func acquireStore(t *testing.T, m *tenancy.Manager, tn tenancy.Tenant, clock func() time.Time) (*tenancy.Lease, *domain.Store) {
	t.Helper()
	l, err := m.Acquire(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	return l, domain.NewStore(l.DB.Write, l.DB.Read, l.Location, clock)
}

// A booking's confirmation reaches a real SMTP server exactly once, with the manage link and a
// calendar attachment in the business's times; a refused connection is retried later.
func TestMailDelivery(t *testing.T) {
	ctx := context.Background()
	m, tn, now, clock := mailBusiness(t, "acme", "Acme Spa")
	l, s := acquireStore(t, m, tn, clock)
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: 9 * 60, End: 18 * 60}}
	}
	ana, _ := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Email: "ana@acme.example", Hours: h})
	svc, _ := s.CreateService(ctx, domain.Service{Name: "Massage", Duration: time.Hour, Capacity: 1,
		Price: domain.Money{Amount: 5000, Currency: "EUR"}, StaffIDs: []int64{ana}})
	day := domain.DateOf(clock().In(l.Location)).AddDays(3)
	start := day.At(10*60, l.Location)
	_, token, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start,
		Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Release()

	// The mail server is down at first: a port nobody listens on.
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := probe.Addr().String()
	_ = probe.Close()
	mailer, err := jobs.NewMailer("smtp://"+addr, "", "bookings@reserva.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.MailConfig{Mailer: mailer, BaseURL: "https://book.example", Now: clock}
	r, err := jobs.DeliverMail(ctx, m, cfg, false)
	if err != nil || r.Sent != 0 || r.Failed != 2 {
		t.Fatalf("with the server down: %s %v; want 2 failed attempts", r, err)
	}

	box := &sink{}
	serveSMTP(t, box, addr)
	if r, err := jobs.DeliverMail(ctx, m, cfg, false); err != nil || r.Sent != 0 {
		t.Errorf("retried before the backoff: %s %v", r, err)
	}
	now.Add(int64(2 * time.Minute))
	if r, err := jobs.DeliverMail(ctx, m, cfg, false); err != nil || r.Sent != 2 {
		t.Fatalf("after the backoff: %s %v", r, err)
	}
	if r, err := jobs.DeliverMail(ctx, m, cfg, true); err != nil || r.Sent != 0 {
		t.Errorf("sent again: %s %v", r, err)
	}
	msgs := box.all()
	if len(msgs) != 2 {
		t.Fatalf("%d messages received, want 2 (customer and staff)", len(msgs))
	}
	var customer received
	for _, msg := range msgs {
		if msg.to == "eva@example.com" {
			customer = msg
		}
	}
	mail := parse(t, customer.data)
	if from, _ := mail.Header.AddressList("From"); len(from) != 1 || from[0].Name != "Acme Spa" || from[0].Address != "bookings@reserva.example" {
		t.Errorf("From %v", from)
	}
	if !strings.HasPrefix(mail.Subject, "Your booking is confirmed: Massage") {
		t.Errorf("Subject %q", mail.Subject)
	}
	for _, want := range []string{
		"https://book.example/acme/booking/" + string(token),
		start.In(l.Location).Format("Monday 2 January 2006") + ", 10:00–11:00 (Europe/Madrid time",
	} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("customer mail lacks %q:\n%s", want, mail.Text)
		}
	}
	for _, want := range []string{
		"DTSTART:" + start.UTC().Format("20060102T150405Z"),
		"DTEND:" + start.Add(time.Hour).UTC().Format("20060102T150405Z"),
		"SUMMARY:Massage at Acme Spa",
	} {
		if !strings.Contains(mail.ICS, want) {
			t.Errorf("calendar lacks %q:\n%s", want, mail.ICS)
		}
	}
	if !strings.Contains(customer.data, `filename=booking.ics`) || !strings.HasPrefix(mail.ICSType, "text/calendar") {
		t.Errorf("calendar attachment %q:\n%s", mail.ICSType, customer.data)
	}

	// A reminder goes out once, the day before.
	now.Store(start.Add(-20 * time.Hour).UnixNano())
	r, err = jobs.DeliverMail(ctx, m, cfg, true)
	if err != nil || r.Reminders != 1 || r.Sent != 1 {
		t.Errorf("reminder run: %s %v", r, err)
	}
	if r, err := jobs.DeliverMail(ctx, m, cfg, true); err != nil || r.Reminders != 0 || r.Sent != 0 {
		t.Errorf("second reminder run: %s %v", r, err)
	}
}

// Without a mail server, mail is written as .eml files, in a folder of the sending business
// (which erasing the business removes), readable by the operator alone.
func TestFileMailer(t *testing.T) {
	dir := t.TempDir()
	m, err := jobs.NewMailer("", dir, "")
	if err != nil {
		t.Fatal(err)
	}
	const id = "abcdefghijklmnopqrstuvwxyz"
	if err := m.Send(context.Background(), jobs.Mail{ID: "<outbox-1.x@reserva>", TenantID: id, To: "a@example.com", Subject: "Hi", Body: "Hello"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, id, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	for p, want := range map[string]os.FileMode{files[0]: 0o600, filepath.Join(dir, id): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
	if err := m.Send(context.Background(), jobs.Mail{ID: "<x@reserva>", TenantID: "../../etc", To: "a@example.com"}); err == nil {
		t.Error("a tenant id that is a path was accepted")
	}
	if _, err := jobs.NewMailer("http://nope", dir, ""); err == nil {
		t.Error("an http URL was taken as a mail server")
	}
}

// A password reset requested on the dashboard reaches the user by SMTP with a working link to
// the business's reset page, once; the backlog counts it until it is sent.
func TestPasswordResetMail(t *testing.T) {
	ctx := context.Background()
	m, tn, _, _ := mailBusiness(t, "acme", "Acme Spa")
	l, s := acquireStore(t, m, tn, time.Now)
	if _, err := s.CreateUser(ctx, domain.NewUser{Email: "owner@acme.example", Name: "Olga", Role: domain.RoleOwner, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPasswordReset(ctx, "Owner@Acme.example", "Acme Spa"); err != nil {
		t.Fatal(err)
	}
	l.Release()

	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "bookings@reserva.example")
	cfg := jobs.MailConfig{Mailer: mailer, BaseURL: "https://book.example"}
	r, err := jobs.DeliverMail(ctx, m, cfg, true)
	if err != nil || r.Sent != 1 || r.Backlog != 0 {
		t.Fatalf("deliver: %s %v", r, err)
	}
	msgs := box.all()
	if len(msgs) != 1 || msgs[0].to != "owner@acme.example" {
		t.Fatalf("received %+v", msgs)
	}
	mail := parse(t, msgs[0].data)
	body := mail.Text
	i := strings.Index(body, "https://book.example/acme/admin/reset/")
	if i < 0 || !strings.Contains(mail.Subject, "Reset your password for Acme Spa") {
		t.Fatalf("mail: %s", body)
	}
	secret := strings.Fields(body[i+len("https://book.example/acme/admin/reset/"):])[0]
	l, s = acquireStore(t, m, tn, time.Now)
	defer l.Release()
	if u, err := s.ResetPassword(ctx, secret, "a brand new password", true); err != nil || u.Email != "owner@acme.example" {
		t.Errorf("the mailed link does not reset: %v", err)
	}
	if r, err := jobs.DeliverMail(ctx, m, cfg, true); err != nil || r.Sent != 0 {
		t.Errorf("sent twice: %s %v", r, err)
	}
}

// A delivery run over a business with nothing to send reads, and leaves its writer connection
// closed (opening one costs milliseconds and memory for every business open at the time).
func TestMailRunWithNothingDueOpensNoWriter(t *testing.T) {
	ctx := context.Background()
	m, l := openedForReading(t)
	// The mail job (open businesses) and the reminders job (every business, reminders first).
	for _, all := range []bool{false, true} {
		r, err := jobs.DeliverMail(ctx, m, jobs.MailConfig{Mailer: jobs.FileMailer{Dir: t.TempDir()}}, all)
		if err != nil || r.Sent != 0 || r.Reminders != 0 {
			t.Fatalf("delivery (all=%v): %s, %v", all, r, err)
		}
		if n := l.DB.Write.Stats().OpenConnections; n != 0 {
			t.Errorf("a run (all=%v) with nothing due opened %d writer connections", all, n)
		}
	}
}

// recordMailer keeps the Message-IDs it was given.
type recordMailer struct {
	mu  sync.Mutex
	ids []string
}

func (r *recordMailer) Send(_ context.Context, m jobs.Mail) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, m.ID)
	return nil
}

// A Message-ID never names two messages: outbox row ids come back after their rows are deleted
// (an anonymisation removes a customer's messages; a restore brings back an older outbox), and
// mail clients fold a second message with the same Message-ID into the first.
func TestMessageIDsNeverRepeat(t *testing.T) {
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
	if _, err := s.CreateUser(ctx, domain.NewUser{Email: "owner@acme.example", Name: "Olga", Role: domain.RoleOwner, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	l.Release()
	rec := &recordMailer{}
	cfg := jobs.MailConfig{Mailer: rec, BaseURL: "https://book.example"}
	for i := range 2 {
		l, err := m.Acquire(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
		if err := s.RequestPasswordReset(ctx, "owner@acme.example", "Acme Spa"); err != nil {
			t.Fatal(err)
		}
		l.Release()
		if r, err := jobs.DeliverMail(ctx, m, cfg, true); err != nil || r.Sent != 1 {
			t.Fatalf("run %d: %s %v", i, r, err)
		}
		// The message's row goes, as an anonymisation or a restore to an older backup does.
		l, _ = m.Acquire(ctx, tn)
		if _, err := l.DB.Write.ExecContext(ctx, `DELETE FROM outbox`); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	if len(rec.ids) != 2 || rec.ids[0] == rec.ids[1] {
		t.Errorf("Message-IDs %v: two messages, one id", rec.ids)
	}
}

// massageByAna gives s a staff member, Ana (staffEmail, 9:00–18:00 every day), and an hour's
// massage that she gives.
func massageByAna(t *testing.T, s *domain.Store, staffEmail string) (ana, svc int64) {
	t.Helper()
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: 9 * 60, End: 18 * 60}}
	}
	ana, err := s.CreateStaff(context.Background(), domain.Staff{Name: "Ana", Email: staffEmail, Hours: h})
	if err != nil {
		t.Fatal(err)
	}
	svc, err = s.CreateService(context.Background(), domain.Service{Name: "Massage", Duration: time.Hour, Capacity: 1,
		Price: domain.Money{Amount: 5000, Currency: "EUR"}, StaffIDs: []int64{ana}})
	if err != nil {
		t.Fatal(err)
	}
	return ana, svc
}

// countMailer counts the messages it is given and fails each while failing is set.
type countMailer struct {
	sent, tried atomic.Int32
	failing     atomic.Bool
}

func (c *countMailer) Send(context.Context, jobs.Mail) error {
	c.tried.Add(1)
	if c.failing.Load() {
		return errors.New("451 try again later")
	}
	c.sent.Add(1)
	return nil
}

// A business's new mail goes out at the next new-mail run (every two seconds), not at the
// minute's: a burst of bookings whole, in one run (a run used to send twenty messages of a
// business, so a class that filled up waited minutes for its confirmations). A run after
// nothing was written sends nothing, and a server that fails stops a business's sending after
// one batch. (Which businesses a run visits: tenancy's TestForEachCommittedVisitsWriters.)
func TestNewMailRun(t *testing.T) {
	ctx := context.Background()
	m, tn, _, clock := mailBusiness(t, "acme", "Acme Spa")
	l, s := acquireStore(t, m, tn, clock)
	defer l.Release()
	ana, svc := massageByAna(t, s, "ana@acme.example")
	first := domain.DateOf(clock().In(l.Location)).AddDays(2)
	book := func(n int) {
		t.Helper()
		for i := range n {
			start := first.AddDays(i/9).At((9+i%9)*60, l.Location)
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start,
				Customer: domain.Customer{Name: "Eva", Email: fmt.Sprintf("eva%d@example.com", i)}}); err != nil {
				t.Fatal(err)
			}
		}
		first = first.AddDays(n/9 + 1)
	}
	book(18)
	queued, err := s.OutboxBacklog(ctx)
	if err != nil || queued != 36 {
		t.Fatalf("%d messages queued (%v), want 36: a customer's and the staff member's per booking", queued, err)
	}
	mailer := &countMailer{}
	sched, err := jobs.New(m, jobs.Config{Mail: jobs.MailConfig{Mailer: mailer, Now: clock}}, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(want int32, when string) {
		t.Helper()
		before := mailer.tried.Load()
		if out, err := sched.Run(ctx, "new-mail"); err != nil {
			t.Fatalf("%s: %s %v", when, out, err)
		}
		if got := mailer.tried.Load() - before; got != want {
			t.Errorf("%s: the run tried %d messages, want %d", when, got, want)
		}
	}
	run(36, "after 18 bookings")
	if n, err := s.OutboxBacklog(ctx); err != nil || n != 0 {
		t.Errorf("%d messages still waiting (%v)", n, err)
	}
	run(0, "with nothing written since")
	book(1)
	run(2, "after one more booking")

	mailer.failing.Store(true)
	book(18)
	run(20, "with the server failing") // one batch, each message tried once
	if n, err := s.OutboxBacklog(ctx); err != nil || n != 36 {
		t.Errorf("%d messages waiting after the failed batch (%v), want 36", n, err)
	}
}
