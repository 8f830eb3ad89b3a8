package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/tenancy"
)

// The owners hear of a booking made, moved and cancelled, by mail through the outbox, with a
// link to the booking in the dashboard's calendar; an owner who opted out does not, nor does a
// staff user (their staff member has their own copy).
func TestOwnerBookingMailOverSMTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, _ := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), time.Hour)
	defer func() { _ = reg.Close() }()
	m := manager(t, dir, reg, nil)
	tn, err := m.Provision(ctx, tenancy.NewTenant{Slug: "salon", Name: "Salon", Timezone: "Europe/Madrid"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := m.Acquire(ctx, tn)
	s := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: 0, End: 24 * 60}}
	}
	ana, err1 := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Hours: h})
	svc, err2 := s.CreateService(ctx, domain.Service{Name: "Cut", Duration: time.Hour, Capacity: 1,
		Price: domain.Money{Amount: 2500, Currency: "EUR"}, StaffIDs: []int64{ana}})
	if err1 != nil || err2 != nil {
		l.Release()
		t.Fatal(err1, err2)
	}
	for _, u := range []domain.NewUser{
		{Email: "boss@example.com", Name: "Boss", Role: domain.RoleOwner, Password: "long enough password"},
		{Email: "quiet@example.com", Name: "Quiet", Role: domain.RoleOwner, Password: "long enough password"},
		{Email: "staff@example.com", Name: "Staff", Role: domain.RoleStaff, Password: "long enough password", StaffID: ana},
	} {
		created, err := s.CreateUser(ctx, u)
		if err != nil {
			l.Release()
			t.Fatal(err)
		}
		if !created.NotifyBookings {
			t.Errorf("%s: booking mail off by default", u.Email)
		}
		if u.Email == "quiet@example.com" {
			if u, err := s.SetNotifyBookings(ctx, created.ID, false); err != nil || u.NotifyBookings {
				l.Release()
				t.Fatalf("opt out: %+v %v", u, err)
			}
		}
	}
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: start,
		Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}})
	l.Release()
	if err != nil {
		t.Fatal(err)
	}

	box := &sink{}
	mailer, _ := jobs.NewMailer("smtp://"+serveSMTP(t, box, "127.0.0.1:0"), "", "bookings@reserva.example")
	cfg := jobs.MailConfig{Mailer: mailer, BaseURL: "https://book.example"}
	ownerMail := func(what string) parsedMail {
		t.Helper()
		before := len(box.all())
		if _, err := jobs.DeliverMail(ctx, m, cfg, false); err != nil {
			t.Fatal(err)
		}
		var got []received
		for _, r := range box.all()[before:] {
			if r.to != "eva@example.com" {
				got = append(got, r)
			}
		}
		if len(got) != 1 || got[0].to != "boss@example.com" {
			var to []string
			for _, r := range got {
				to = append(to, r.to)
			}
			t.Fatalf("%s: staff and owner mail went to %v, want only boss@example.com", what, to)
		}
		return parse(t, got[0].data)
	}
	link := func(date string) string {
		return fmt.Sprintf("https://book.example/salon/admin/calendar?date=%s&booking=%d", date, b.ID)
	}
	check := func(what string, mail parsedMail, subject string, text ...string) {
		t.Helper()
		if !strings.HasPrefix(mail.Subject, subject) {
			t.Errorf("%s: subject %q, want it to start with %q", what, mail.Subject, subject)
		}
		for _, want := range text {
			if !strings.Contains(mail.Text, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, mail.Text)
			}
		}
	}
	day := func(t time.Time) string { return domain.DateOf(t.In(l.Location)).String() }
	check("new", ownerMail("new"), "Booking created: Cut, Eva", "Cut with Ana for Eva (eva@example.com)", link(day(start)), "account page")

	l, _ = m.Acquire(ctx, tn)
	s = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	later := start.Add(26 * time.Hour)
	_, err = s.Move(ctx, b.ID, later, ana, domain.Actor("owner Boss"))
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	check("moved", ownerMail("moved"), "Booking moved: Cut, Eva", link(day(later)))

	l, _ = m.Acquire(ctx, tn)
	s = domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
	_, err = s.Cancel(ctx, b.ID, "Feeling ill", domain.Actor("owner Boss"))
	l.Release()
	if err != nil {
		t.Fatal(err)
	}
	check("cancelled", ownerMail("cancelled"), "Booking cancelled: Cut, Eva", "Reason: Feeling ill", link(day(later)))
}
