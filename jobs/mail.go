package jobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// Mail is one email ready to go.
type Mail struct {
	ID       string // Message-ID: stable per outbox row, so a resend can be recognised
	TenantID string // the business that sends it (FileMailer files it under its id)
	FromName string
	ReplyTo  string // the business's contact address, on mail to its customers
	To       string
	Subject  string
	Body     string
	ICS      string
}

// Mailer delivers mail: over SMTP, or into files when no server is configured.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMTPMailer sends through the server of an smtp://[user:password@]host:port URL.
type SMTPMailer struct {
	URL  *url.URL
	From string // envelope and header address, e.g. no-reply@example.com
}

// smtpTimeout bounds one message's whole conversation with the server, so a server that hangs
// cannot hold the mail job (and its claim on the message) for long.
const smtpTimeout = 20 * time.Second

func (s SMTPMailer) Send(ctx context.Context, m Mail) error {
	msg, err := compose(m, s.From)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.URL.Host)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		_ = conn.Close() // a connection we cannot bound in time is not used
		return fmt.Errorf("smtp: set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // a cancelled job ends the conversation
	defer stop()
	c, err := smtp.NewClient(conn, s.URL.Hostname())
	if err != nil {
		_ = conn.Close() // the greeting failed: that error is the one to report
		return err
	}
	defer func() { _ = c.Close() }() // after Quit (checked) or a failure already returned
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.URL.Hostname()}); err != nil {
			return err
		}
	}
	if u := s.URL.User; u != nil {
		pw, _ := u.Password()
		if err := c.Auth(smtp.PlainAuth("", u.Username(), pw, s.URL.Hostname())); err != nil {
			return err
		}
	}
	if err := c.Mail(s.From); err != nil {
		return err
	}
	if err := c.Rcpt(m.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// FileMailer writes each mail as an .eml file into Dir/<tenant id>/ (the default with no SMTP
// server): one folder per business, which erasing the business removes (tenancy's MailDir).
// Files are the operator's alone (0600): they hold customers' addresses and private links.
type FileMailer struct {
	Dir  string
	From string
}

// messageFileName turns a Message-ID into a file name (built once: a Replacer is safe to share).
var messageFileName = strings.NewReplacer("<", "", ">", "", "@", "_")

func (f FileMailer) Send(_ context.Context, m Mail) error {
	msg, err := compose(m, f.From)
	if err != nil {
		return err
	}
	dir := f.Dir
	if m.TenantID != "" {
		if !validTenantID(m.TenantID) {
			return fmt.Errorf("mail file: invalid tenant id %q", m.TenantID)
		}
		dir = filepath.Join(dir, m.TenantID)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := strings.Trim(messageFileName.Replace(m.ID), ".") + ".eml"
	return os.WriteFile(filepath.Join(dir, name), msg, 0o600)
}

// messageID is the Message-ID of outbox message msg of tenant tenantID: its random id, or for a
// message queued before it had one, the id built from its row id as it was then (a resend of
// one already sent keeps its Message-ID).
func messageID(msg domain.Message, tenantID string) string {
	if msg.MessageID != "" {
		return "<" + msg.MessageID + "." + tenantID + "@reserva>"
	}
	return fmt.Sprintf("<outbox-%d.%s@reserva>", msg.ID, tenantID)
}

// validTenantID reports whether id looks like a tenant id (lowercase base32), so that it can
// name a folder.
func validTenantID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// compose builds the MIME message with go-message: headers encoded as RFC 2047 asks (a
// business's or customer's name, a subject in Spanish), the text quoted-printable (lines of any
// length, any language, through 7-bit servers), and the calendar event as an attachment.
func compose(m Mail, from string) ([]byte, error) {
	var h gomail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*gomail.Address{{Name: m.FromName, Address: from}})
	h.SetAddressList("To", []*gomail.Address{{Address: m.To}})
	if m.ReplyTo != "" {
		h.SetAddressList("Reply-To", []*gomail.Address{{Name: m.FromName, Address: m.ReplyTo}})
	}
	h.SetSubject(m.Subject)
	h.Set("Message-ID", m.ID) // already in angle brackets
	var buf bytes.Buffer
	w, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	text, err := w.CreateSingleInline(th)
	if err != nil {
		return nil, fmt.Errorf("compose mail text: %w", err)
	}
	if _, err := io.WriteString(text, strings.ReplaceAll(m.Body, "\n", "\r\n")); err != nil {
		return nil, fmt.Errorf("compose mail text: %w", err)
	}
	if err := text.Close(); err != nil {
		return nil, fmt.Errorf("compose mail text: %w", err)
	}
	if m.ICS != "" {
		var ah gomail.AttachmentHeader
		ah.SetContentType("text/calendar", map[string]string{"charset": "utf-8", "method": icsMethod(m.ICS)})
		ah.SetFilename("booking.ics")
		att, err := w.CreateAttachment(ah)
		if err != nil {
			return nil, fmt.Errorf("compose calendar attachment: %w", err)
		}
		if _, err := io.WriteString(att, m.ICS); err != nil {
			return nil, fmt.Errorf("compose calendar attachment: %w", err)
		}
		if err := att.Close(); err != nil {
			return nil, fmt.Errorf("compose calendar attachment: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	return buf.Bytes(), nil
}

func icsMethod(ics string) string {
	if strings.Contains(ics, "METHOD:CANCEL") {
		return "CANCEL"
	}
	return "REQUEST"
}

// MailResult is what one delivery run did.
type MailResult struct {
	Reminders, Sent, Failed int
	Backlog                 int // messages still waiting in the tenants visited
}

func (r MailResult) String() string {
	return fmt.Sprintf("%d reminders queued, %d sent, %d failed attempts, %d waiting", r.Reminders, r.Sent, r.Failed, r.Backlog)
}

// MailConfig is how mail goes out.
type MailConfig struct {
	Mailer       Mailer
	BaseURL      string        // public address of the platform, for the manage links
	RemindBefore time.Duration // reminders go this long before a booking starts; default DefaultRemindBefore
	// PerTenant bounds the time one run spends sending one tenant's mail (default
	// DefaultMailPerTenant): a mail server that stalls on one business's messages must not hold
	// up every other business's mail. What is left waits for a later run.
	PerTenant time.Duration
	Now       func() time.Time
}

// DefaultRemindBefore is MailConfig.RemindBefore's default.
const DefaultRemindBefore = 24 * time.Hour

// DefaultMailPerTenant is MailConfig.PerTenant's default: a full batch at a healthy server
// takes seconds.
const DefaultMailPerTenant = 2 * time.Minute

// DeliverMail sends the due messages of the open (active) tenants, or, with all, of every
// tenant after queueing its reminders. A message is marked sent once the server accepted it;
// a failed one is retried with backoff.
func DeliverMail(ctx context.Context, m *tenancy.Manager, cfg MailConfig, all bool) (MailResult, error) {
	return deliverMail(ctx, m, cfg, all, nil)
}

// mailBatch is how many messages a run claims from a tenant's outbox at a time: each batch is
// claimed, sent and marked before the next is claimed, so that a message is never held
// claimed (hidden from other runs for ten minutes) longer than its batch takes.
const mailBatch = 20

// mailDeliverer returns what sends one tenant's due messages, adding to r: with reminders,
// after queueing the tenant's reminders. It sends batch after batch until nothing is due, a
// message fails (the server is unwell: the rest waits for a later run, as the failed one
// does) or the tenant's budget (cfg.PerTenant) is spent: a burst of bookings is confirmed in
// one run, not twenty messages a run.
func mailDeliverer(ctx context.Context, cfg MailConfig, reminders bool, owns Owns, r *MailResult) func(*tenancy.Lease) error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RemindBefore <= 0 {
		cfg.RemindBefore = DefaultRemindBefore
	}
	if cfg.PerTenant <= 0 {
		cfg.PerTenant = DefaultMailPerTenant
	}
	mailer, baseURL := cfg.Mailer, cfg.BaseURL
	return func(l *tenancy.Lease) error {
		if !owns.has(ctx, l.Tenant.ID) {
			return nil // open here, owned elsewhere now: its owner sends its mail
		}
		s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, cfg.Now)
		if reminders {
			n, err := s.QueueReminders(ctx, cfg.RemindBefore)
			if err != nil {
				return err
			}
			r.Reminders += n
		}
		// Sending has the tenant's budget; the outbox's bookkeeping, the job's context, so that a
		// message cut short is recorded as failed and retried.
		sendCtx, cancel := context.WithTimeout(ctx, cfg.PerTenant)
		defer cancel()
		var st *domain.Settings // read once, with the first message
		failedBefore := r.Failed
		for sendCtx.Err() == nil {
			msgs, err := s.DueMessages(ctx, mailBatch)
			if err != nil {
				return err
			}
			if len(msgs) == 0 {
				break
			}
			if st == nil { // the business's contact address, the Reply-To of customers' mail
				v, err := s.Settings(ctx)
				if err != nil {
					return err
				}
				st = &v
			}
			for _, msg := range msgs {
				if sendCtx.Err() != nil {
					break // the rest of the batch waits for a later run
				}
				err := sendMessage(sendCtx, mailer, baseURL, l.Tenant, *st, msg)
				if err != nil {
					r.Failed++
					if err := s.MessageFailed(ctx, msg, err); err != nil {
						return err
					}
					continue
				}
				if err := s.MessageSent(ctx, msg.ID); err != nil {
					return err
				}
				r.Sent++
			}
			if len(msgs) < mailBatch || r.Failed > failedBefore {
				break
			}
		}
		n, err := s.OutboxBacklog(ctx)
		r.Backlog += n
		return err
	}
}

// sendMessage renders msg of business t and hands it to mailer, at the lowest CPU priority:
// nobody waits on a message by the millisecond, and sending the mail of 50 bookings a second
// took ~0.1 core, which requests felt in their tail (docs/perf.md). The outbox's bookkeeping
// around it holds the business's writer and stays at normal priority.
func sendMessage(ctx context.Context, mailer Mailer, baseURL string, t tenancy.Tenant, st domain.Settings, msg domain.Message) error {
	link := ""
	if msg.LinkPath != "" {
		link = paths.URL(baseURL, t.Slug, msg.LinkPath)
	}
	return ops.AtLowPriority(func() error {
		filled, err := msg.Fill(link, t.Name)
		if err != nil {
			return err
		}
		filled.Body = strings.NewReplacer(domain.SitePlaceholder, paths.URL(baseURL, t.Slug, ""),
			domain.PlatformPlaceholder, strings.TrimSuffix(baseURL, "/")).Replace(filled.Body)
		replyTo := "" // replies to a customer's mail go to the business, not to the no-reply sender
		if msg.Kind.ToCustomer() {
			replyTo = st.ContactEmail
		}
		return mailer.Send(ctx, Mail{
			ID: messageID(msg, t.ID), TenantID: t.ID, FromName: t.Name, ReplyTo: replyTo,
			To: msg.To, Subject: filled.Subject, Body: filled.Body, ICS: filled.ICS,
		})
	})
}

// deliverMail is DeliverMail for the tenants owns has.
func deliverMail(ctx context.Context, m *tenancy.Manager, cfg MailConfig, all bool, owns Owns) (MailResult, error) {
	var r MailResult
	deliver := mailDeliverer(ctx, cfg, all, owns, &r)
	if !all {
		_, err := m.ForEachOpen(ctx, deliver)
		return r, err
	}
	tenants, err := m.Registry().List(ctx)
	if err != nil {
		return r, err
	}
	var failed []string
	for _, t := range tenants {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if !owns.has(ctx, t.ID) {
			continue // not even opened: another node owns it
		}
		if err := m.Visit(ctx, t, deliver); err != nil {
			failed = append(failed, t.Slug) // the other tenants' mail goes on
		}
	}
	if len(failed) > 0 {
		return r, fmt.Errorf("mail of %d tenants failed: %v", len(failed), failed)
	}
	return r, nil
}

// deliverNewMail sends the due messages of the open tenants that committed anything since the
// previous run with c (tenancy.Manager.ForEachCommitted): what a booking just queued goes out
// within seconds, without a visit to every open business each time. The minute's run over
// every open business retries the rest (a failed message's next attempt comes with no commit).
func deliverNewMail(ctx context.Context, m *tenancy.Manager, cfg MailConfig, c *tenancy.Commits, owns Owns) (MailResult, error) {
	var r MailResult
	_, err := m.ForEachCommitted(ctx, c, mailDeliverer(ctx, cfg, false, owns, &r))
	return r, err
}

// NewMailer returns an SMTP mailer for an smtp:// URL, or a FileMailer writing into dir when
// the URL is empty.
func NewMailer(rawURL, dir, from string) (Mailer, error) {
	if from == "" {
		from = "no-reply@reserva.invalid"
	}
	if rawURL == "" {
		return FileMailer{Dir: dir, From: from}, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Host == "" {
		return nil, fmt.Errorf("mail server URL %q must look like smtp://user:password@host:587", rawURL)
	}
	return SMTPMailer{URL: u, From: from}, nil
}
