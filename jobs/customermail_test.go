package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/jobs"
)

// Customer mail, as a real SMTP server receives it: in the customer's language, from the
// business (its name RFC 2047-encoded) with a Reply-To of the business, with the business's
// name, address and phone and a working manage link in every mail, the cancellation's reason,
// and a calendar entry that names organizer, attendee and place, links back and reminds. A
// booking made less than the reminder lead time ahead gets no reminder.
func TestCustomerMailOverSMTP(t *testing.T) {
	ctx := context.Background()
	m, tn, now, clock := mailBusiness(t, "nunez", "Salón Núñez")
	l, s := acquireStore(t, m, tn, clock)
	st, _ := s.Settings(ctx)
	st.Locale, st.Address, st.ContactPhone, st.ContactEmail = "es", "Calle Mayor 1, Madrid", "+34 600 111 222", "hola@nunez.example"
	if err := s.UpdateSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: 0, End: 24 * 60}}
	}
	ana, _ := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Hours: h})
	svc, _ := s.CreateService(ctx, domain.Service{Name: "Corte", Duration: time.Hour, Capacity: 1,
		Price: domain.Money{Amount: 2500, Currency: "EUR"}, StaffIDs: []int64{ana}})
	start := clock().Add(72 * time.Hour).Truncate(time.Hour)
	early, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start,
		Customer: domain.Customer{Name: "Élodie", Email: "elodie@example.com"}, Locale: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	l.Release()

	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "bookings@reserva.example")
	cfg := jobs.MailConfig{Mailer: mailer, BaseURL: "https://book.example", Now: clock}
	deliver := func(all bool) parsedMail {
		t.Helper()
		before := len(box.all())
		if _, err := jobs.DeliverMail(ctx, m, cfg, all); err != nil {
			t.Fatal(err)
		}
		msgs := box.all()
		if len(msgs) != before+1 {
			t.Fatalf("%d messages delivered, want 1", len(msgs)-before)
		}
		return parse(t, msgs[len(msgs)-1].data)
	}
	check := func(what string, mail parsedMail, text, cal []string) {
		t.Helper()
		if from, err := mail.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Salón Núñez" {
			t.Errorf("%s: From %v %v", what, from, err)
		}
		if rt, err := mail.Header.AddressList("Reply-To"); err != nil || len(rt) != 1 || rt[0].Address != "hola@nunez.example" {
			t.Errorf("%s: Reply-To %v %v, want the business's address", what, rt, err)
		}
		for _, want := range append(text, "https://book.example/nunez/booking/", "Salón Núñez", "Calle Mayor 1, Madrid", "+34 600 111 222") {
			if !strings.Contains(mail.Text, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, mail.Text)
			}
		}
		unfolded := strings.ReplaceAll(mail.ICS, "\r\n ", "")
		for _, want := range cal {
			if !strings.Contains(unfolded, want) {
				t.Errorf("%s: calendar lacks %q:\n%s", what, want, mail.ICS)
			}
		}
	}
	confirmation := deliver(false)
	if !strings.HasPrefix(confirmation.Subject, "Votre réservation est confirmée : Corte") || !strings.HasSuffix(confirmation.Subject, "(Salón Núñez)") {
		t.Errorf("subject %q", confirmation.Subject)
	}
	check("confirmation", confirmation, []string{"Bonjour Élodie,", "Corte avec Ana"}, []string{
		"SUMMARY:Corte chez Salón Núñez", "ORGANIZER;CN=Salón Núñez:mailto:hola@nunez.example",
		"ATTENDEE;CN=Élodie;", "mailto:elodie@example.com", "LOCATION:Calle Mayor 1\\, Madrid",
		"DESCRIPTION:Corte avec Ana.\\n\\nPour consulter\\, modifier ou annuler votre réservation : https://book.example/nunez/booking/",
		"BEGIN:VALARM", "TRIGGER:-PT1H", "METHOD:REQUEST",
	})

	// A booking made 5 hours ahead: its confirmation, and no reminder.
	l, s = acquireStore(t, m, tn, clock)
	now.Store(start.Add(-20 * time.Hour).UnixNano())
	_, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start.Add(-15 * time.Hour),
		Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}})
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	check("Spanish confirmation", deliver(false), []string{"Hola, Eva:", "Tu reserva está confirmada"}, []string{"SUMMARY:Corte en Salón Núñez"})
	r, err := jobs.DeliverMail(ctx, m, cfg, true)
	if err != nil || r.Reminders != 1 {
		t.Errorf("reminders %s %v; want 1, for the booking made 3 days ahead, none for the one made 5 hours ahead", r, err)
	}
	if msgs := box.all(); len(msgs) != 3 || !strings.Contains(parse(t, msgs[2].data).Text, "Un rappel de votre réservation") {
		t.Errorf("%d mails; want a third, Élodie's reminder", len(msgs))
	}

	// Staff cancel with a reason: it reaches the customer, with a link to see the booking.
	l, s = acquireStore(t, m, tn, clock)
	_, err = s.Cancel(ctx, early.ID, "Ana est malade", domain.StaffActor("Olga"))
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	check("cancellation", deliver(false), []string{"Votre réservation est annulée", "Motif : Ana est malade", "Pour la consulter : https://book.example/nunez/booking/"},
		[]string{"METHOD:CANCEL", "STATUS:CANCELLED"})
}
