package domain_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/migrations"
)

// Bugs found in review, each kept as a test of the fixed behaviour.

// An idempotency key reused for a different booking never opens the first one.
func TestIdempotencyKeyBelongsToOneBooking(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	other := mustService(t, s, domain.Service{Name: "Other", Duration: time.Hour, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(1), IdempotencyKey: "1"}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: other, StaffID: ana, Start: at(tue, "15:00"), Customer: customer(2), IdempotencyKey: "1"})
	if domain.ErrorCode(err) != domain.EINVALID || tok != "" {
		t.Errorf("another request with a used key: token %q, err %v; want EINVALID", tok, err)
	}
	// Same key, same service and time, but another customer: refused too.
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(2), IdempotencyKey: "1"}); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("another customer with a used key: %v", err)
	}
}

// An opening interval that ends inside the spring-forward gap keeps only its real part, so it
// cannot reach into the next interval and let a slot be booked twice.
func TestDSTGapIntervalEnd(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", time.Date(2026, 3, 27, 12, 0, 0, 0, madrid))
	ana := mustStaff(t, s, "Ana", hours([]time.Weekday{time.Sunday}, iv("01:00", "02:45"), iv("03:00", "05:00")))
	cut := mustService(t, s, domain.Service{Duration: 15 * time.Minute, StaffIDs: []int64{ana}})
	d := date("2026-03-29")
	three := time.Date(2026, 3, 29, 3, 0, 0, 0, madrid)
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: three, Customer: customer(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: three, Customer: customer(2)}); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
		t.Errorf("03:00 booked twice: %v", err)
	}
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: cut, From: d, To: d})
	if err != nil {
		t.Fatal(err)
	}
	got := starts(days[0], madrid)
	// 01:00–02:00 CET is all that exists of the first interval; 03:00 is taken.
	want := []string{"01:00", "01:15", "01:30", "01:45", "03:15", "03:30", "03:45", "04:00", "04:15", "04:30", "04:45"}
	if !slices.Equal(got, want) {
		t.Errorf("slots %v, want %v", got, want)
	}
}

// Dates near the end of year 9999 compare correctly and a query over them ends.
func TestDatesNearYear10000(t *testing.T) {
	d := date("9999-12-31")
	if !d.Before(d.AddDays(1)) || d.AddDays(1).Before(d) {
		t.Errorf("%s vs %s", d, d.AddDays(1))
	}
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	days, err := s.Availability(context.Background(), domain.AvailabilityQuery{ServiceID: cut, From: date("9999-10-31"), To: date("9999-12-31")})
	if err != nil || len(days) != 62 || days[0].Status != domain.DayClosed {
		t.Errorf("%d days, %v", len(days), err)
	}
}

// With no cutoff, customers still cannot change a booking that has started or is over.
func TestCustomerCannotChangePastBooking(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) { st.CancelCutoff = 0 })
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue, fri := date("2026-06-02"), date("2026-06-05")
	_, tok, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(at(tue, "15:00"))
	if _, err := s.RescheduleByToken(ctx, tok, at(fri, "10:00"), 0); domain.ErrorCode(err) != domain.ETOOLATE {
		t.Errorf("reschedule a past booking: %v", err)
	}
	if _, err := s.CancelByToken(ctx, tok, ""); domain.ErrorCode(err) != domain.ETOOLATE || !strings.Contains(domain.ErrorMessage(err), "already started") {
		t.Errorf("cancel a past booking: %v", err)
	}
}

// A keyset cursor holds its position even when the booking it came from moves.
func TestBookingsCursorSurvivesMove(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	for i, h := range []string{"10:00", "11:00", "12:00", "13:00", "14:00"} {
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, h), Customer: customer(i)}); err != nil {
			t.Fatal(err)
		}
	}
	page1, _ := s.Bookings(ctx, domain.BookingFilter{Limit: 2})
	last := page1[len(page1)-1]
	if _, err := s.Move(ctx, last.ID, at(tue, "16:00"), ana, "staff:x"); err != nil {
		t.Fatal(err)
	}
	cursor := last.Cursor()
	page2, _ := s.Bookings(ctx, domain.BookingFilter{Limit: 10, After: &cursor})
	if len(page2) != 4 { // 12:00, 13:00, 14:00 and the moved one at 16:00
		t.Errorf("page 2 has %d bookings, want 4", len(page2))
	}
}

// Moving a booking holds the resources its service needs now, not the ones it held before.
func TestMoveTakesCurrentResources(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	ben := mustStaff(t, s, "Ben", hours(weekdays, iv("09:00", "18:00")))
	room1, _ := s.CreateResource(ctx, "Room 1")
	room2, _ := s.CreateResource(ctx, "Room 2")
	massage := mustService(t, s, domain.Service{Name: "Massage", Duration: time.Hour, StaffIDs: []int64{ana, ben}, ResourceIDs: []int64{room1}})
	tue := date("2026-06-02")
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: massage, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := s.Service(ctx, massage)
	svc.ResourceIDs = []int64{room2}
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	moved, err := s.Move(ctx, b.ID, at(tue, "12:00"), ana, "staff:x")
	if err != nil || !slices.Equal(moved.ResourceIDs, []int64{room2}) {
		t.Fatalf("moved booking holds %v (%v), want room 2", moved.ResourceIDs, err)
	}
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: massage, StaffID: ben, Start: at(tue, "12:00"), Customer: customer(2)}); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
		t.Errorf("room 2 double-booked at 12:00: %v", err)
	}
}

// Settings that would be rounded when stored are refused instead.
func TestSettingsNotRounded(t *testing.T) {
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	st, _ := s.Settings(context.Background())
	st.Horizon = 36 * time.Hour
	if err := s.UpdateSettings(context.Background(), st); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("36 h horizon: %v", err)
	}
}

// The availability query reads bookings from its index alone.
func TestAvailabilityIndexCovers(t *testing.T) {
	db, err := sql.Open("sqlite3", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	for _, m := range migrations.Tenant() {
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`EXPLAIN QUERY PLAN SELECT staff_id, group_concat(block_start || ' ' || block_end, ' ') FROM bookings
		WHERE staff_id IN (?, ?) AND status <> 'cancelled' AND block_end > ? AND block_end < ? AND block_start < ? AND id <> ?
		AND NOT (? AND service_id = ?) GROUP BY staff_id`, 1, 2, 0, 2, 1, 0, true, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	// The search reads a range of block_end, not every booking after the window.
	if p := strings.Join(plan, "; "); !strings.Contains(p, "COVERING INDEX bookings_staff_idx (staff_id=? AND block_end>? AND block_end<?)") {
		t.Errorf("plan: %s", p)
	}
}

// Booking with someone else's email neither reveals nor changes what they gave.
func TestBookingDoesNotRevealOrRewriteCustomer(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	victim := domain.Customer{Name: "Victoria Private", Email: "vic@example.com"}
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: victim}); err != nil {
		t.Fatal(err)
	}
	prober := domain.Customer{Name: "x", Email: "VIC@example.com", Phone: "+1 555"}
	_, tok, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "11:00"), Customer: prober})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.BookingByToken(ctx, tok)
	if err != nil || b.Contact.Name != "x" || b.Contact.Phone != "+1 555" {
		t.Errorf("the prober's booking shows %+v (%v); want what the prober gave", b.Contact, err)
	}
	c, _ := s.CustomerByEmail(ctx, "vic@example.com")
	if c.Name != "Victoria Private" || c.Phone != "" {
		t.Errorf("customer record rewritten: %+v", c)
	}
	if b.CustomerID != c.ID {
		t.Error("the booking is not on the customer's history")
	}
}

func TestAnonymiseCustomer(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	eva := domain.Customer{Name: "Eva Private", Email: "eva@example.com", Phone: "+34 600"}
	b, tok, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: eva, Notes: "my knee hurts"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "11:00"), Customer: customer(2)})
	if err := s.AnonymiseCustomer(ctx, b.CustomerID, "staff:Owner"); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Customer(ctx, b.CustomerID)
	got, _ := s.Booking(ctx, b.ID)
	if strings.Contains(c.Name+c.Email+c.Phone, "Eva") || c.Email != "" || got.Notes != "" || got.Contact.Name != "Deleted customer" || got.Contact.Email != "" {
		t.Errorf("after anonymising: customer %+v, booking %+v", c, got)
	}
	if got.Start != b.Start || got.Status != b.Status {
		t.Error("the booking itself changed")
	}
	if _, err := s.BookingByToken(ctx, tok); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("manage link still works: %v", err)
	}
	if o, _ := s.Booking(ctx, other.ID); o.Contact.Name != "Customer" {
		t.Errorf("another customer's booking changed: %+v", o.Contact)
	}
	// Nothing is left to find the erased customer by: a phone booking with their old number
	// is a new customer.
	byPhone, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "12:00"),
		Customer: domain.Customer{Name: "Eva", Phone: eva.Phone}, OnBehalf: true, Actor: "staff:Owner"})
	if err != nil || byPhone.CustomerID == b.CustomerID {
		t.Errorf("a phone booking with the erased customer's phone: customer %d (erased: %d), %v", byPhone.CustomerID, b.CustomerID, err)
	}
	if err := s.AnonymiseCustomer(ctx, 999, "x"); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("unknown customer: %v", err)
	}
}

// A cancelled (or moved) booking's unsent messages, like a queued reminder, are withdrawn.
func TestCancelWithdrawsQueuedReminder(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(at(tue, "10:00").Add(-20 * time.Hour))
	if n, err := s.QueueReminders(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("reminders queued: %d %v", n, err)
	}
	if _, err := s.Cancel(ctx, b.ID, "ill", "staff:Ana"); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.DueMessages(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range msgs {
		kinds = append(kinds, string(m.Kind))
	}
	if slices.Contains(kinds, "booking_reminder") || !slices.Contains(kinds, "booking_cancelled") {
		t.Errorf("due after the cancellation: %v", kinds)
	}
}

func TestEmailWithControlCharactersRefused(t *testing.T) {
	for _, e := range []string{"a@b.example\rX-Injected: yes", "a\x00@b.example", "a b@c.example", "a@b,c.example"} {
		c := domain.Customer{Name: "X", Email: e}
		if err := c.Validate(); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%q accepted", e)
		}
	}
}
