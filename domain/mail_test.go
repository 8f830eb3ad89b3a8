package domain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// manageToken is the token of a message's manage link.
func manageToken(t *testing.T, m domain.Message) domain.ManageToken {
	t.Helper()
	token, ok := strings.CutPrefix(m.LinkPath, paths.Manage(""))
	if !ok || token == "" {
		t.Fatalf("%s mail has no manage link (link path %q)", m.Kind, m.LinkPath)
	}
	return domain.ManageToken(token)
}

// Every customer mail carries a working manage link — the cancellation staff make, the move,
// the reminder, not only the first confirmation — and the reason a booking was cancelled
// reaches the customer (it was stored and left out of the mail).
func TestCustomerMailCarriesLinkAndReason(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) {
		st.Address, st.ContactPhone, st.ContactEmail = "Calle Mayor 1, Madrid", "+34 600 111 222", "desk@salon.example"
	})
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Name: "Cut", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-03"), "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	created := dueByKind(t, s)[domain.KindBookingCreated]
	if _, err := s.Move(ctx, b.ID, at(date("2026-06-03"), "11:00"), ana, domain.StaffActor("Ana")); err != nil {
		t.Fatal(err)
	}
	moved := dueByKind(t, s)[domain.KindBookingRescheduled]
	if _, err := s.Cancel(ctx, b.ID, "Ana is ill, sorry", domain.StaffActor("Ana")); err != nil {
		t.Fatal(err)
	}
	cancelled := dueByKind(t, s)[domain.KindBookingCancelled]
	if !strings.Contains(cancelled.Body, "Ana is ill, sorry") {
		t.Errorf("the cancellation's reason does not reach the customer:\n%s", cancelled.Body)
	}
	for _, m := range []domain.Message{created, moved, cancelled} {
		got, err := s.BookingByToken(ctx, manageToken(t, m))
		if err != nil || got.ID != b.ID {
			t.Errorf("%s mail's link opens %+v, %v; want booking %d", m.Kind, got, err, b.ID)
		}
		for _, want := range []string{domain.LinkPlaceholder, domain.BusinessPlaceholder, "Calle Mayor 1, Madrid", "+34 600 111 222", "desk@salon.example"} {
			if !strings.Contains(m.Body, want) {
				t.Errorf("%s mail lacks %q:\n%s", m.Kind, want, m.Body)
			}
		}
	}
}

// The mail speaks the language the customer booked in, else the business's setting.
func TestCustomerMailLanguage(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) { st.Locale = "de-DE" })
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Name: "Cut", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	for i, c := range []struct{ locale, hello, date, subject, summary string }{
		{"es", "Hola, Customer:", "miércoles, 3 de junio de 2026, 10:00–10:30", "Tu reserva está confirmada: Cut, mié 3 jun 10:00", "SUMMARY:Cut en {{business}}"},
		{"fr-CA", "Bonjour Customer,", "mercredi 3 juin 2026, 11:00–11:30", "Votre réservation est confirmée : Cut, mer. 3 juin 11:00", "SUMMARY:Cut chez {{business}}"},
		{"", "Hallo Customer,", "Mittwoch, 3. Juni 2026, 12:00–12:30", "Ihre Buchung ist bestätigt: Cut, Mi. 3. Juni 12:00", "SUMMARY:Cut bei {{business}}"},
		{"ja", "Hallo Customer,", "Mittwoch, 3. Juni 2026, 13:00–13:30", "Ihre Buchung ist bestätigt: Cut, Mi. 3. Juni 13:00", "SUMMARY:Cut bei {{business}}"},
	} {
		start := at(date("2026-06-03"), "10:00").Add(time.Duration(i) * time.Hour)
		b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: start, Customer: customer(i), Locale: c.locale})
		if err != nil {
			t.Fatal(err)
		}
		m := dueByKind(t, s)[domain.KindBookingCreated]
		for _, want := range []string{c.hello, c.date} {
			if !strings.Contains(m.Body, want) {
				t.Errorf("locale %q: body lacks %q:\n%s", c.locale, want, m.Body)
			}
		}
		if !strings.HasPrefix(m.Subject, c.subject) {
			t.Errorf("locale %q: subject %q, want it to start %q", c.locale, m.Subject, c.subject)
		}
		if !strings.Contains(m.ICS, c.summary) {
			t.Errorf("locale %q: calendar lacks %q:\n%s", c.locale, c.summary, m.ICS)
		}
		if _, err := s.Cancel(ctx, b.ID, "", domain.StaffActor("Ana")); err != nil {
			t.Fatal(err)
		}
		dueByKind(t, s)
	}
}

// The calendar entry names the business (organizer, summary) and the customer (attendee), says
// where, links to the booking and reminds an hour before; filled in on delivery, the business's
// name and the link replace their placeholders, escaped and folded.
func TestCustomerCalendarEntry(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) {
		st.Address, st.ContactEmail = "Calle Mayor 1, Madrid", "desk@salon.example"
	})
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Name: "Cut", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-03"), "10:00"),
		Customer: domain.Customer{Name: "Eva Díaz", Email: "eva@example.com"}}); err != nil {
		t.Fatal(err)
	}
	m, err := dueByKind(t, s)[domain.KindBookingCreated].Fill("https://reserva.example/salon/booking/"+strings.Repeat("x", 60), "Salon Núñez, Madrid")
	if err != nil {
		t.Fatal(err)
	}
	unfolded := strings.ReplaceAll(m.ICS, "\r\n ", "")
	for _, want := range []string{
		"SUMMARY:Cut at Salon Núñez\\, Madrid",
		"ORGANIZER;CN=Salon Núñez  Madrid:mailto:desk@salon.example",
		"ATTENDEE;CN=Eva Díaz;", "mailto:eva@example.com",
		"LOCATION:Calle Mayor 1\\, Madrid",
		"DESCRIPTION:Cut with Ana.\\n\\nTo see\\, change or cancel your booking: https://reserva.example/salon/booking/" + strings.Repeat("x", 60),
		"BEGIN:VALARM", "TRIGGER:-PT1H", "ACTION:DISPLAY",
	} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("calendar lacks %q:\n%s", want, m.ICS)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(m.ICS, "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
	}
	if strings.Contains(m.Body+m.Subject+m.ICS, "{{") {
		t.Errorf("a placeholder is left:\n%s\n%s\n%s", m.Subject, m.Body, m.ICS)
	}
}
