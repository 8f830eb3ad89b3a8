package domain

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/reserva/reserva/internal/i18n"
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
	// KindOwnerBooking… tell the business's owners (those who have not opted out) of a booking
	// made, moved or cancelled, with a link to it in the dashboard's calendar.
	KindOwnerBookingCreated     MessageKind = "owner_booking_created"
	KindOwnerBookingRescheduled MessageKind = "owner_booking_rescheduled"
	KindOwnerBookingCancelled   MessageKind = "owner_booking_cancelled"
	KindWelcome                 MessageKind = "welcome"       // to the owner who signed the business up
	KindInvitation              MessageKind = "invitation"    // to a user invited to the dashboard
	KindBusinessList            MessageKind = "business_list" // "sign in to your business": where an email has accounts
)

// ToCustomer reports whether a message of kind k goes to a customer (about their booking).
func (k MessageKind) ToCustomer() bool {
	switch k {
	case KindBookingCreated, KindBookingConfirmed, KindBookingRescheduled, KindBookingCancelled, KindBookingReminder:
		return true
	}
	return false
}

// toStaff is the kind of the staff member's copy of a booking message of kind k.
func (k MessageKind) toStaff() MessageKind { return "staff_" + k }

// LinkPlaceholder marks where the delivery puts the absolute manage link.
const LinkPlaceholder = "{{link}}"

// BusinessPlaceholder marks where the delivery puts the business's name, which its database
// does not hold (the registry does).
const BusinessPlaceholder = "{{business}}"

// SitePlaceholder marks where the delivery puts the absolute address of the business's booking
// site (its home page), which a mail about the business itself (a welcome) shares.
const SitePlaceholder = "{{site}}"

// PlatformPlaceholder marks where the delivery puts the platform's own address (the base URL,
// no trailing slash), for a mail that links to several businesses.
const PlatformPlaceholder = "{{platform}}"

// BusinessLink is a business a person has a dashboard account with: its name and address.
type BusinessLink struct{ Name, Slug string }

// HasUser reports whether email has a dashboard account with this business.
func (s *Store) HasUser(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up a user by email: %w", err)
	}
	return n > 0, nil
}

// QueueBusinessList writes the answer to "sign in to your business" for email: every business
// where it has an account, each with its sign-in link. The platform has no outbox of its own, so
// the mail goes through the outbox of one of those businesses (this store's).
func (s *Store) QueueBusinessList(ctx context.Context, email string, list []BusinessLink) error {
	var body strings.Builder
	body.WriteString("Hello,\n\nSomeone (we hope you) asked which businesses you can sign in to on Reserva with this\nemail address. Here they are, with their sign-in pages:\n\n")
	for _, b := range list {
		fmt.Fprintf(&body, "  %s\n  %s%s\n\n", b.Name, PlatformPlaceholder, paths.Admin(b.Slug, paths.AdminLogin))
	}
	body.WriteString("If it was not you, ignore this email.\n")
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return enqueue(ctx, tx, Message{Kind: KindBusinessList, To: strings.ToLower(strings.TrimSpace(email)),
			Subject: "Your businesses on Reserva", Body: body.String()}, s.now())
	})
	return wrap("queue the list of businesses", err)
}

// QueueWelcome writes the welcome mail to owner, who has just signed the business up: what to
// do first (staff, their hours, services, sharing the booking link), with the links to the
// dashboard and to the booking site. English, like the rest of the dashboard.
func (s *Store) QueueWelcome(ctx context.Context, owner User) error {
	body := fmt.Sprintf(`Hello,

Welcome to Reserva: %s is ready to take bookings once you have done four things, in your
dashboard at

  %s

1. Staff: add the people who give your services (you too, if you do).
2. Hours: set each one's working hours, breaks and days off.
3. Services: add what customers book, with its length and price.
4. Share the link: put your booking page on your website, social profiles and email
   signature:

  %s

The dashboard's home page shows a checklist of these steps until they are done.
`, BusinessPlaceholder, LinkPlaceholder, SitePlaceholder)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return enqueue(ctx, tx, Message{Kind: KindWelcome, To: owner.Email, Subject: "Welcome to Reserva: set up " + BusinessPlaceholder,
			Body: body, LinkPath: paths.AdminMail(paths.AdminHome)}, s.now())
	})
	return wrap("queue the welcome mail", err)
}

// notify writes the messages that announce a booking change, in the transaction of the change:
// to the customer (in the language they booked in, else the business's), with a calendar
// attachment and their manage link, and to the staff member (in English, like the dashboard).
// A change made without the customer's token (by staff, a reminder) gives the mail a manage
// link of its own: only the token's hash is kept, so the first one cannot be sent again.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, kind MessageKind, b Booking, token ManageToken, now time.Time) error {
	return s.notifyKnown(ctx, tx, kind, b, token, now, nil)
}

// notifyKnown is notify for a caller that already holds the business's catalog as the
// transaction sees it (cat: the service, staff member and settings the mails are made of); with
// cat nil they are read in the transaction. A new booking's transaction changes no catalog row,
// so it spares the three reads.
func (s *Store) notifyKnown(ctx context.Context, tx *sql.Tx, kind MessageKind, b Booking, token ManageToken, now time.Time, cat *catalog) error {
	var (
		svc                   Service
		staffName, staffEmail string
		st                    Settings
		err                   error
	)
	if cat != nil {
		if svc, err = cat.service(b.ServiceID); err != nil {
			return err
		}
		staff, err := cat.staffMember(b.StaffID)
		if err != nil {
			return err
		}
		staffName, staffEmail, st = staff.Name, staff.Email, cat.settings
	} else {
		if svc, err = service(ctx, tx, b.ServiceID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT name, email FROM staff WHERE id = ?`, b.StaffID).Scan(&staffName, &staffEmail); err != nil {
			return err
		}
		if st, err = settings(ctx, tx); err != nil {
			return err
		}
	}
	events, err := eventCount(ctx, tx, b.ID)
	if err != nil {
		return err
	}
	cancelled := kind == KindBookingCancelled
	if b.Contact.Email != "" {
		if token == "" {
			token = newToken()
			if _, err := tx.ExecContext(ctx, `INSERT INTO booking_tokens (token_hash, booking_id, created_at) VALUES (?, ?, ?)`,
				token.hash(), b.ID, now.Unix()); err != nil {
				return fmt.Errorf("add a manage link to the mail: %w", err)
			}
		}
		l := i18n.For(i18n.Negotiate(b.Locale, "", st.Locale))
		m := s.customerMail(l, kind, b, svc.Name, staffName, st)
		ics := calendar(b, CalendarEvent{
			Summary:     l.T("ics.summary", map[string]any{"Service": svc.Name, "Business": BusinessPlaceholder}),
			Description: l.T("ics.description", map[string]any{"Service": svc.Name, "Staff": staffName, "Link": LinkPlaceholder}),
			Location:    st.Address, Organizer: BusinessPlaceholder, OrganizerEmail: st.ContactEmail,
			Attendee: b.Contact.Name, AttendeeEmail: b.Contact.Email,
			Alarm: l.T("ics.alarm", map[string]any{"Service": svc.Name, "Business": BusinessPlaceholder}),
		}, cancelled, events, now)
		m.Kind, m.BookingID, m.To, m.ICS, m.LinkPath = kind, b.ID, b.Contact.Email, ics, paths.Manage(string(token))
		if err := enqueue(ctx, tx, m, now); err != nil {
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
		en := i18n.For("en")
		staffBody := fmt.Sprintf("Booking %s: %s for %s (%s)\n%s\n", verb, svc.Name, b.Contact.Name, reach, s.describeTime(en, b))
		if cancelled && b.CancelReason != "" {
			staffBody += "Reason: " + b.CancelReason + "\n"
		}
		ics := calendar(b, CalendarEvent{Summary: svc.Name + " with " + b.Contact.Name, Location: st.Address,
			Organizer: BusinessPlaceholder, OrganizerEmail: st.ContactEmail}, cancelled, events, now)
		if err := enqueue(ctx, tx, Message{Kind: kind.toStaff(), BookingID: b.ID, To: staffEmail,
			Subject: fmt.Sprintf("Booking %s: %s, %s, %s", verb, svc.Name, b.Contact.Name, s.shortTime(b)),
			Body:    staffBody, ICS: ics}, now); err != nil {
			return err
		}
	}
	return s.notifyOwners(ctx, tx, kind, b, svc.Name, staffName, staffEmail, now)
}

// ownerKinds are the booking changes owners hear of, and the kind of their message.
var ownerKinds = map[MessageKind]MessageKind{
	KindBookingCreated:     KindOwnerBookingCreated,
	KindBookingRescheduled: KindOwnerBookingRescheduled,
	KindBookingCancelled:   KindOwnerBookingCancelled,
}

// notifyOwners tells every owner who wants it (users.notify_bookings) of a booking made, moved
// or cancelled, in English like the rest of the dashboard, with a link to the booking in the
// dashboard's calendar. An owner who is also the booking's staff member (same address) already
// has the staff member's copy and gets no second one.
func (s *Store) notifyOwners(ctx context.Context, tx *sql.Tx, kind MessageKind, b Booking, serviceName, staffName, staffEmail string, now time.Time) error {
	ownerKind, ok := ownerKinds[kind]
	if !ok {
		return nil
	}
	var owners []string
	err := each(ctx, tx, func(rows *sql.Rows) error {
		var email string
		if err := rows.Scan(&email); err != nil {
			return err
		}
		if !strings.EqualFold(email, staffEmail) {
			owners = append(owners, email)
		}
		return nil
	}, `SELECT email FROM users WHERE role = 'owner' AND notify_bookings = 1 ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list the owners to notify: %w", err)
	}
	if len(owners) == 0 {
		return nil
	}
	verb := strings.TrimPrefix(string(kind), "booking_")
	if kind == KindBookingCreated && b.Status == StatusPending {
		verb = "requested (to confirm)"
	}
	if kind == KindBookingRescheduled {
		verb = "moved"
	}
	en := i18n.For("en")
	reach := strings.Join(slices.DeleteFunc([]string{b.Contact.Email, b.Contact.Phone}, func(s string) bool { return s == "" }), ", ")
	if reach == "" {
		reach = "no email or phone"
	}
	var body strings.Builder
	fmt.Fprintf(&body, "Booking %s: %s with %s for %s (%s)\n%s\n", verb, serviceName, staffName, b.Contact.Name, reach, s.describeTime(en, b))
	if kind == KindBookingCancelled && b.CancelReason != "" {
		fmt.Fprintf(&body, "Reason: %s\n", b.CancelReason)
	}
	fmt.Fprintf(&body, "\nSee it in the calendar: %s\n\n--\nYou get this mail as an owner of %s. To stop it, untick "+
		"\"Mail me about bookings\" on your account page in the dashboard.\n", LinkPlaceholder, BusinessPlaceholder)
	link := paths.AdminMail(paths.AdminCalendarBooking(DateOf(b.Start.In(s.loc)).String(), b.ID))
	for _, to := range owners {
		if err := enqueue(ctx, tx, Message{Kind: ownerKind, BookingID: b.ID, To: to,
			Subject: fmt.Sprintf("Booking %s: %s, %s, %s", verb, serviceName, b.Contact.Name, s.shortTime(b)),
			Body:    body.String(), LinkPath: link}, now); err != nil {
			return err
		}
	}
	return nil
}

// customerMail is the subject and body of a customer's mail of kind about b, in l's language:
// what happened, when and with whom, why (a cancellation's reason), the manage link, and how to
// reach the business (its name is filled in on delivery).
func (s *Store) customerMail(l *i18n.Localizer, kind MessageKind, b Booking, serviceName, staffName string, st Settings) Message {
	headline := l.T(map[MessageKind]string{
		KindBookingCreated:     "mail.confirmed",
		KindBookingConfirmed:   "mail.confirmed",
		KindBookingRescheduled: "mail.rescheduled",
		KindBookingCancelled:   "mail.cancelled",
		KindBookingReminder:    "mail.reminder",
	}[kind])
	if kind == KindBookingCreated && b.Status == StatusPending {
		headline = l.T("mail.requested")
	}
	var body strings.Builder
	line := func(s string) { body.WriteString(s + "\n") }
	line(l.T("mail.hello", map[string]any{"Name": b.Contact.Name}))
	line("")
	line(headline + ":")
	line("")
	line("  " + l.T("mail.service_with", map[string]any{"Service": serviceName, "Staff": staffName}))
	line("  " + s.describeTime(l, b))
	if kind == KindBookingCancelled && b.CancelReason != "" {
		line("")
		line(l.T("mail.reason", map[string]any{"Reason": b.CancelReason}))
	}
	line("")
	if kind == KindBookingCancelled {
		line(l.T("mail.view", map[string]any{"Link": LinkPlaceholder}))
	} else {
		line(l.T("mail.manage", map[string]any{"Link": LinkPlaceholder}))
	}
	line("")
	line("--")
	line(BusinessPlaceholder)
	if st.Address != "" {
		line(l.T("mail.address", map[string]any{"Address": st.Address}))
	}
	if st.ContactPhone != "" {
		line(l.T("mail.phone", map[string]any{"Phone": st.ContactPhone}))
	}
	if st.ContactEmail != "" {
		line(l.T("mail.reply", map[string]any{"Email": st.ContactEmail}))
	}
	subject := l.T("mail.subject", map[string]any{"Headline": headline, "Service": serviceName,
		"When": l.ShortDate(b.Start.In(s.loc)) + " " + l.Time(b.Start.In(s.loc)), "Business": BusinessPlaceholder})
	return Message{Subject: subject, Body: body.String()}
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
	en := i18n.For("en")
	body := fmt.Sprintf("Booking moved to %s: %s for %s (%s)\nIt was yours: %s\nIt is now %s.\n",
		newName, svc.Name, before.Contact.Name, before.Contact.Email, s.describeTime(en, before), s.describeTime(en, moved))
	return enqueue(ctx, tx, Message{Kind: KindStaffBookingReleased, BookingID: before.ID, To: oldEmail,
		Subject: fmt.Sprintf("Booking moved to %s: %s, %s, %s", newName, svc.Name, before.Contact.Name, s.shortTime(before)),
		Body:    body, ICS: calendar(before, CalendarEvent{Summary: svc.Name + " with " + before.Contact.Name}, true, events, now)}, now)
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

// describeTime says when a booking is, in the business's time zone, naming the zone, in l's
// language: "Monday 2 January 2006, 10:00–11:00 (Europe/Madrid time, CET)".
func (s *Store) describeTime(l *i18n.Localizer, b Booking) string {
	start, end := b.Start.In(s.loc), b.End.In(s.loc)
	return l.T("mail.when", map[string]any{"Date": l.LongDate(start), "Start": l.Time(start), "End": l.Time(end),
		"Zone": s.loc.String(), "Abbr": start.Format("MST")})
}

func (s *Store) shortTime(b Booking) string { return b.Start.In(s.loc).Format("Mon 2 Jan 15:04 MST") }

// CalendarEvent is what a booking's calendar entry says besides its times: the texts in the
// customer's language, the business (organizer) and the customer (attendee). Empty fields are
// left out.
type CalendarEvent struct {
	Summary, Description, Location string
	Organizer, OrganizerEmail      string // the business's name and contact address
	Attendee, AttendeeEmail        string // the customer
	Alarm                          string // the reminder's text: a VALARM an hour before
}

// icsClean makes s fit for an iCalendar TEXT value before the library escapes it: golang-ical
// escapes backslash, semicolon, comma and LF, but leaves a CR, which calendar clients also take
// for a line break (the rest of a service's name would read as a property of its own), and
// other control characters, which TEXT may not hold. Line breaks become LF; the others go.
func icsClean(s string) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// icsParam makes s fit for a parameter value (a CN, a display name). RFC 5545 (3.2) lets a
// parameter value hold ";", ":" and "," only inside double quotes, and a double quote never;
// golang-ical does not quote CN but puts a backslash before those characters (and "'"), which
// the RFC does not have and clients show. So they are replaced: quotes and apostrophes by their
// typographic forms, the others by spaces, and line breaks and control characters go.
func icsParam(s string) string {
	return strings.NewReplacer("\n", " ", `"`, "”", "'", "’", ";", " ", ":", " ", ",", " ", "\\", "/").Replace(icsClean(s))
}

// calendar is an iCalendar (RFC 5545) event for b, in UTC, built with golang-ical (escaping and
// folding to 75 octets); a cancellation cancels it. A booking still awaiting the business's
// confirmation is TENTATIVE: the confirmation sends it again, CONFIRMED, with a higher SEQUENCE.
func calendar(b Booking, ev CalendarEvent, cancelled bool, sequence int, now time.Time) string {
	method, status := ics.MethodRequest, ics.ObjectStatusConfirmed
	switch {
	case cancelled:
		method, status = ics.MethodCancel, ics.ObjectStatusCancelled
	case b.Status == StatusPending:
		status = ics.ObjectStatusTentative
	}
	cal := ics.NewCalendar()
	cal.SetProductId("-//Reserva//Booking//EN")
	cal.SetMethod(method)
	e := cal.AddEvent(b.CalendarUID + "@reserva")
	e.SetSequence(sequence)
	e.SetDtStampTime(now)
	e.SetStartAt(b.Start)
	e.SetEndAt(b.End)
	e.SetSummary(icsClean(ev.Summary))
	if ev.Description != "" {
		e.SetDescription(icsClean(ev.Description))
	}
	if ev.Location != "" {
		e.SetLocation(icsClean(ev.Location))
	}
	if ev.OrganizerEmail != "" {
		e.SetOrganizer(ev.OrganizerEmail, ics.WithCN(icsParam(ev.Organizer)))
	}
	if ev.AttendeeEmail != "" {
		e.AddAttendee(ev.AttendeeEmail, ics.WithCN(icsParam(ev.Attendee)), ics.CalendarUserTypeIndividual,
			ics.ParticipationRoleReqParticipant, ics.ParticipationStatusAccepted, ics.WithRSVP(false))
	}
	e.SetStatus(status)
	if ev.Alarm != "" && !cancelled {
		a := e.AddAlarm()
		a.SetAction(ics.ActionDisplay)
		a.SetTrigger("-PT1H")
		a.SetProperty(ics.ComponentPropertyDescription, icsClean(ev.Alarm))
	}
	return cal.Serialize(ics.WithNewLineWindows)
}

// Fill returns m as it is sent: the manage link (link, absolute) and the business's name in
// place of their placeholders, in the text and in the calendar entry. The entry is parsed and
// written again rather than edited as text, so that the values are escaped and folded anew.
func (m Message) Fill(link, business string) (Message, error) {
	r := strings.NewReplacer(LinkPlaceholder, link, BusinessPlaceholder, business)
	m.Subject, m.Body = r.Replace(m.Subject), r.Replace(m.Body)
	if m.ICS == "" || !strings.Contains(m.ICS, "{{") {
		return m, nil
	}
	cal, err := ics.ParseCalendar(strings.NewReader(m.ICS))
	if err != nil {
		return m, fmt.Errorf("read the calendar entry of message %d: %w", m.ID, err)
	}
	values := strings.NewReplacer(LinkPlaceholder, icsClean(link), BusinessPlaceholder, icsClean(business))
	fill := func(props []ics.IANAProperty) {
		for i := range props {
			props[i].Value = values.Replace(props[i].Value)
			for _, vs := range props[i].ICalParameters {
				for j := range vs {
					vs[j] = icsParam(values.Replace(vs[j]))
				}
			}
		}
	}
	for _, e := range cal.Events() {
		fill(e.Properties)
		for _, a := range e.Alarms() {
			fill(a.Properties)
		}
	}
	m.ICS = cal.Serialize(ics.WithNewLineWindows)
	return m, nil
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
	err := s.inLightTx(ctx, func(tx *sql.Tx) error {
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
	// The link holds the customer's secret token: once sent, it need not be kept. Lost in a
	// power cut, the mark costs the message a second sending (with the same Message-ID).
	return s.inLightTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, link_path = '' WHERE id = ?`, s.now().Unix(), id)
		return err
	})
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
	return s.inLightTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?, failed_at = ? WHERE id = ?`,
			attempts, cause.Error(), next.Unix(), failedAt, m.ID)
		return err
	})
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

// Calendar returns booking b as an iCalendar file (for "add to calendar"), in language lang
// (or the business's), for the business named business, with the absolute manage link.
func (s *Store) Calendar(ctx context.Context, b Booking, lang, business, link string) (string, error) {
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
	st, err := s.Settings(ctx)
	if err != nil {
		return "", err
	}
	l := i18n.For(i18n.Negotiate(lang, "", st.Locale))
	return calendar(b, CalendarEvent{
		Summary:     l.T("ics.summary", map[string]any{"Service": svc.Name, "Business": business}),
		Description: l.T("ics.description", map[string]any{"Service": svc.Name, "Staff": staffName, "Link": link}),
		Location:    st.Address, Organizer: business, OrganizerEmail: st.ContactEmail,
		Attendee: b.Contact.Name, AttendeeEmail: b.Contact.Email,
		Alarm: l.T("ics.alarm", map[string]any{"Service": svc.Name, "Business": business}),
	}, b.Status == StatusCancelled, events, s.now()), nil
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
