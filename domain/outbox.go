package domain

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reserva/reserva/internal/paths"
)

// Message is a notification in the outbox.
type Message struct {
	ID        int64
	Kind      MessageKind
	BookingID int64
	To        string
	Subject   string
	Body      string // plain text; "{{link}}" stands for the manage link, filled in on delivery
	ICS       string // calendar attachment, may be empty
	LinkPath  string // the link below the business's site (paths.Manage, paths.PasswordReset)
	Attempts  int
	// MessageID is the local part of the message's Message-ID: random, never reused (row ids
	// are, after deletes and restores). Empty for messages queued before migration 0007.
	MessageID string
}

// MessageKind is what a message in the outbox is about (outbox.kind).
type MessageKind string

// Kinds of message: to the customer about their booking (and, prefixed with staff_, to the
// staff member; see toStaff), and the others.
const (
	KindBookingCreated     MessageKind = "booking_created"
	KindBookingConfirmed   MessageKind = "booking_confirmed"
	KindBookingRescheduled MessageKind = "booking_rescheduled"
	KindBookingCancelled   MessageKind = "booking_cancelled"
	KindBookingReminder    MessageKind = "booking_reminder" // customers only
	// KindStaffBookingReleased tells a staff member that a booking was moved to someone else.
	KindStaffBookingReleased MessageKind = "staff_booking_released"
	KindPasswordReset        MessageKind = "password_reset"
)

// toStaff is the kind of the staff member's copy of a booking message of kind k.
func (k MessageKind) toStaff() MessageKind { return "staff_" + k }

// LinkPlaceholder marks where the delivery puts the absolute manage link.
const LinkPlaceholder = "{{link}}"

// notify writes the messages that announce a booking change, in the transaction of the change:
// to the customer (with a calendar attachment, and the manage link when token is known) and to
// the staff member.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, kind MessageKind, b Booking, token ManageToken, now time.Time) error {
	svc, err := service(ctx, tx, b.ServiceID)
	if err != nil {
		return err
	}
	var staffName, staffEmail string
	if err := tx.QueryRowContext(ctx, `SELECT name, email FROM staff WHERE id = ?`, b.StaffID).Scan(&staffName, &staffEmail); err != nil {
		return err
	}
	events, err := eventCount(ctx, tx, b.ID)
	if err != nil {
		return err
	}
	when := s.describeTime(b)
	headline := map[MessageKind]string{
		KindBookingCreated:     "Your booking is confirmed",
		KindBookingConfirmed:   "Your booking is confirmed",
		KindBookingRescheduled: "Your booking has moved",
		KindBookingCancelled:   "Your booking is cancelled",
		KindBookingReminder:    "A reminder of your booking",
	}[kind]
	if kind == KindBookingCreated && b.Status == StatusPending {
		headline = "We received your booking request; the business will confirm it"
	}
	var body strings.Builder
	fmt.Fprintf(&body, "Hello %s,\n\n%s:\n\n  %s with %s\n  %s\n", b.Contact.Name, headline, svc.Name, staffName, when)
	link := ""
	if token != "" {
		link = paths.Manage(string(token))
		fmt.Fprintf(&body, "\nTo see, change or cancel it: %s\n", LinkPlaceholder)
	} else if kind != KindBookingCancelled {
		body.WriteString("\nTo change or cancel it, use the link in your first confirmation.\n")
	}
	ics := calendar(b, svc.Name, staffName, kind == KindBookingCancelled, events, now)
	subject := fmt.Sprintf("%s: %s, %s", headline, svc.Name, s.shortTime(b))
	if b.Contact.Email != "" {
		if err := enqueue(ctx, tx, Message{Kind: kind, BookingID: b.ID, To: b.Contact.Email, Subject: subject,
			Body: body.String(), ICS: ics, LinkPath: link}, now); err != nil {
			return err
		}
	}
	if staffEmail != "" && kind != KindBookingReminder {
		verb := strings.TrimPrefix(string(kind), "booking_")
		if kind == KindBookingCreated && b.Status == StatusPending {
			verb = "requested (to confirm)"
		}
		reach := strings.Join(slices.DeleteFunc([]string{b.Contact.Email, b.Contact.Phone}, func(s string) bool { return s == "" }), ", ")
		if reach == "" {
			reach = "no email or phone"
		}
		staffBody := fmt.Sprintf("Booking %s: %s for %s (%s)\n%s\n", verb, svc.Name, b.Contact.Name, reach, when)
		if err := enqueue(ctx, tx, Message{Kind: kind.toStaff(), BookingID: b.ID, To: staffEmail,
			Subject: fmt.Sprintf("Booking %s: %s, %s, %s", verb, svc.Name, b.Contact.Name, s.shortTime(b)),
			Body:    staffBody, ICS: ics}, now); err != nil {
			return err
		}
	}
	return nil
}

// notifyStaffReleased tells the staff member a booking was moved away from (before) that it is no
// longer theirs, with a calendar cancellation of the event they were sent (same UID), so it
// leaves their calendar; moved is the booking as it is now, with its new staff member.
func (s *Store) notifyStaffReleased(ctx context.Context, tx *sql.Tx, before, moved Booking, now time.Time) error {
	svc, err := service(ctx, tx, before.ServiceID)
	if err != nil {
		return err
	}
	var oldName, oldEmail, newName string
	if err := tx.QueryRowContext(ctx, `SELECT name, email FROM staff WHERE id = ?`, before.StaffID).Scan(&oldName, &oldEmail); err != nil {
		return err
	}
	if oldEmail == "" {
		return nil
	}
	if err := tx.QueryRowContext(ctx, `SELECT name FROM staff WHERE id = ?`, moved.StaffID).Scan(&newName); err != nil {
		return err
	}
	events, err := eventCount(ctx, tx, before.ID)
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Booking moved to %s: %s for %s (%s)\nIt was yours: %s\nIt is now %s.\n",
		newName, svc.Name, before.Contact.Name, before.Contact.Email, s.describeTime(before), s.describeTime(moved))
	return enqueue(ctx, tx, Message{Kind: KindStaffBookingReleased, BookingID: before.ID, To: oldEmail,
		Subject: fmt.Sprintf("Booking moved to %s: %s, %s, %s", newName, svc.Name, before.Contact.Name, s.shortTime(before)),
		Body:    body, ICS: calendar(before, svc.Name, oldName, true, events, now)}, now)
}

func enqueue(ctx context.Context, tx *sql.Tx, m Message, now time.Time) error {
	var booking any
	if m.BookingID != 0 {
		booking = m.BookingID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (kind, booking_id, to_addr, subject, body, ics, link_path, created_at,
		next_attempt_at, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.Kind, booking, m.To, m.Subject, m.Body, m.ICS,
		m.LinkPath, now.Unix(), now.Unix(), strings.ToLower(rand.Text()))
	return err
}

// describeTime says when a booking is, in the business's time zone, naming the zone.
func (s *Store) describeTime(b Booking) string {
	start, end := b.Start.In(s.loc), b.End.In(s.loc)
	return fmt.Sprintf("%s, %s–%s (%s time, %s)", start.Format("Monday 2 January 2006"), start.Format("15:04"),
		end.Format("15:04"), s.loc.String(), start.Format("MST"))
}

func (s *Store) shortTime(b Booking) string { return b.Start.In(s.loc).Format("Mon 2 Jan 15:04 MST") }

// icsText escapes an iCalendar TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma are
// escaped, every line break (CRLF, LF, or a bare CR, which calendar clients also take for one)
// becomes \n, and other control characters, which TEXT may not hold, are dropped. A bare CR left
// as it was ended the line early: the rest of a service's name read as a property of its own.
func icsText(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == ';' || c == ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			// CRLF is one line break: the LF writes it.
		case c == '\r' || c == '\n':
			b.WriteString(`\n`)
		case c < 0x20 && c != '\t' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// icsMaxLine is the longest content line RFC 5545 (3.1) allows, in octets, without its CRLF.
const icsMaxLine = 75

// icsFold folds a content line longer than icsMaxLine octets: CRLF and a space before each
// further piece (the space counts in the piece's line), never inside a UTF-8 sequence.
func icsFold(line string) string {
	if len(line) <= icsMaxLine {
		return line
	}
	var b strings.Builder
	limit := icsMaxLine
	for len(line) > limit {
		cut := limit
		for cut > limit-utf8.UTFMax && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString("\r\n ")
		line = line[cut:]
		limit = icsMaxLine - 1
	}
	b.WriteString(line)
	return b.String()
}

// calendar is an iCalendar (RFC 5545) event for b, in UTC; a cancellation cancels it. A booking
// still awaiting the business's confirmation is TENTATIVE: the confirmation sends it again,
// CONFIRMED, with a higher SEQUENCE.
func calendar(b Booking, summary, staff string, cancelled bool, sequence int, now time.Time) string {
	method, status := "REQUEST", "CONFIRMED"
	switch {
	case cancelled:
		method, status = "CANCEL", "CANCELLED"
	case b.Status == StatusPending:
		status = "TENTATIVE"
	}
	utc := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
	lines := []string{
		"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Reserva//Booking//EN", "METHOD:" + method,
		"BEGIN:VEVENT",
		"UID:" + b.CalendarUID + "@reserva",
		fmt.Sprintf("SEQUENCE:%d", sequence),
		"DTSTAMP:" + utc(now), "DTSTART:" + utc(b.Start), "DTEND:" + utc(b.End),
		icsFold("SUMMARY:" + icsText(summary+" with "+staff)),
		"STATUS:" + status,
		"END:VEVENT", "END:VCALENDAR",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// messageDue is the condition of a message due for sending at ? (unix seconds).
const messageDue = `sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?`

// DueMessages claims up to limit messages due for sending: they are hidden from other senders for
// ten minutes, so two deliveries running at once never send the same message.
func (s *Store) DueMessages(ctx context.Context, limit int) ([]Message, error) {
	var out []Message
	now := s.now().Unix()
	// Most visits find nothing due: a read says so without the write transaction, which would
	// open the business's writer connection (a few milliseconds, and memory while it stays open).
	var due bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE `+messageDue+`)`, now).Scan(&due); err != nil || !due {
		return nil, err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := each(ctx, tx, func(rows *sql.Rows) error {
			var m Message
			var booking sql.NullInt64
			err := rows.Scan(&m.ID, &m.Kind, &booking, &m.To, &m.Subject, &m.Body, &m.ICS, &m.LinkPath, &m.Attempts, &m.MessageID)
			m.BookingID = booking.Int64
			out = append(out, m)
			return err
		}, `SELECT id, kind, booking_id, to_addr, subject, body, ics, link_path, attempts, message_id FROM outbox
			WHERE `+messageDue+` ORDER BY id LIMIT ?`, now, limit)
		if err != nil {
			return err
		}
		for _, m := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ?`, now+600, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// MaxAttempts is how often a message is tried before it is given up.
const MaxAttempts = 8

// MessageSent records that the mail server accepted message id.
func (s *Store) MessageSent(ctx context.Context, id int64) error {
	// The link holds the customer's secret token: once sent, it need not be kept.
	_, err := s.w.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, link_path = '' WHERE id = ?`, s.now().Unix(), id)
	return err
}

// MessageFailed records a failed attempt and when to try again: 1, 5, 30 minutes, then 2, 6,
// 12, 24 hours; after MaxAttempts the message is given up.
func (s *Store) MessageFailed(ctx context.Context, m Message, cause error) error {
	backoff := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	now := s.now()
	attempts := m.Attempts + 1
	var failedAt any
	next := now.Add(backoff[min(attempts-1, len(backoff)-1)])
	if attempts >= MaxAttempts {
		failedAt = now.Unix()
	}
	_, err := s.w.ExecContext(ctx, `UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?, failed_at = ? WHERE id = ?`,
		attempts, cause.Error(), next.Unix(), failedAt, m.ID)
	return err
}

// OutboxBacklog is how many messages wait to be sent.
func (s *Store) OutboxBacklog(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n)
	return n, err
}

// reminderDue is the condition of an open booking, not yet reminded, that starts after the first
// ? and by the second (unix seconds), and was made at least the third ? (seconds, the reminder's
// lead time) before its start: a booking made for the next hours has just had its
// confirmation, and a reminder on its heels is noise.
const reminderDue = openBooking + ` AND reminded_at IS NULL AND start_at > ? AND start_at <= ? AND start_at - created_at >= ?`

// QueueReminders writes a reminder for every open booking that starts within `within` from now
// and has had none, unless it was made less than `within` before its start, and returns how
// many.
func (s *Store) QueueReminders(ctx context.Context, within time.Duration) (int, error) {
	n := 0
	// The job asks every business; most have nothing to remind, which a read tells without
	// opening the writer (see DueMessages).
	var someDue bool
	now := s.now()
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM bookings WHERE `+reminderDue+`)`,
		now.Unix(), now.Add(within).Unix(), int64(within/time.Second)).Scan(&someDue); err != nil || !someDue {
		return 0, wrap("queue reminders", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var due []Booking
		err := each(ctx, tx, func(rows *sql.Rows) error {
			b, err := scanBooking(rows)
			due = append(due, b)
			return err
		}, `SELECT `+bookingColumns+` FROM bookings WHERE `+reminderDue, now.Unix(), now.Add(within).Unix(), int64(within/time.Second))
		if err != nil {
			return err
		}
		for _, b := range due {
			if err := s.notify(ctx, tx, KindBookingReminder, b, "", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET reminded_at = ? WHERE id = ?`, now.Unix(), b.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, wrap("queue reminders", err)
}

// Calendar returns booking b as an iCalendar file (for "add to calendar").
func (s *Store) Calendar(ctx context.Context, b Booking) (string, error) {
	svc, err := service(ctx, s.r, b.ServiceID)
	if err != nil {
		return "", err
	}
	var staffName string
	if err := s.r.QueryRowContext(ctx, `SELECT name FROM staff WHERE id = ?`, b.StaffID).Scan(&staffName); err != nil {
		return "", notFound(err, "staff member", b.StaffID)
	}
	events, err := eventCount(ctx, s.r, b.ID)
	if err != nil {
		return "", err
	}
	return calendar(b, svc.Name, staffName, b.Status == StatusCancelled, events, s.now()), nil
}

// eventCount is how many events booking id has had: the SEQUENCE of its calendar entry, which
// must grow with every change or calendar apps ignore the update, so a failed count is an error
// rather than a zero.
func eventCount(ctx context.Context, q querier, id int64) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM booking_events WHERE booking_id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events of booking %d: %w", id, err)
	}
	return n, nil
}

// dropUnsent withdraws the messages of booking id not sent yet (a reminder of a time that no
// longer holds, say): the change's own message says what is true now.
func dropUnsent(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE booking_id = ? AND sent_at IS NULL AND failed_at IS NULL`, id)
	return err
}
