package domain_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reserva/reserva/domain"
)

type raceResult struct {
	ok, unavailable int
	other           []error
}

// race runs n requests at once and counts the outcomes.
func race(s *domain.Store, n int, req func(i int) domain.BookingRequest) raceResult {
	var mu sync.Mutex
	var res raceResult
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, _, err := s.CreateBooking(context.Background(), req(i))
			mu.Lock()
			defer mu.Unlock()
			switch domain.ErrorCode(err) {
			case "":
				res.ok++
			case domain.ESLOTUNAVAILABLE:
				res.unavailable++
			default:
				res.other = append(res.other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return res
}

func TestCreateBookingRace(t *testing.T) {
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "22:00")))
	cut := mustService(t, s, domain.Service{Duration: 15 * time.Minute, StaffIDs: []int64{ana}})
	yoga := mustService(t, s, domain.Service{Name: "Yoga", Duration: time.Hour, Capacity: 5, StaffIDs: []int64{ana}})
	tue, wed := date("2026-06-02"), date("2026-06-03")

	t.Run("OneSlot", func(t *testing.T) {
		r := race(s, 50, func(i int) domain.BookingRequest {
			return domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(i)}
		})
		if r.ok != 1 || r.unavailable != 49 || len(r.other) > 0 {
			t.Errorf("%d booked, %d unavailable, other errors %v; want 1 and 49", r.ok, r.unavailable, r.other)
		}
	})
	t.Run("OverlappingStarts", func(t *testing.T) {
		// Different starts that overlap: only one of each overlapping pair can win.
		r := race(s, 50, func(i int) domain.BookingRequest {
			return domain.BookingRequest{ServiceID: yoga, StaffID: ana, Start: at(tue, "14:00").Add(time.Duration(i%4) * 15 * time.Minute), Customer: customer(i)}
		})
		if r.ok != 5 || len(r.other) > 0 { // one session (any of 14:00..14:45) takes all 5 seats
			t.Errorf("%d booked, other errors %v; want 5 seats of one session", r.ok, r.other)
		}
	})
	t.Run("ClassCapacity", func(t *testing.T) {
		r := race(s, 50, func(i int) domain.BookingRequest {
			return domain.BookingRequest{ServiceID: yoga, StaffID: ana, Start: at(wed, "10:00"), Customer: customer(i)}
		})
		if r.ok != 5 || r.unavailable != 45 || len(r.other) > 0 {
			t.Errorf("%d booked, %d unavailable, other %v; want 5 and 45", r.ok, r.unavailable, r.other)
		}
	})
	t.Run("DifferentSlots", func(t *testing.T) {
		thu := date("2026-06-04")
		r := race(s, 50, func(i int) domain.BookingRequest {
			return domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(thu, "09:00").Add(time.Duration(i) * 15 * time.Minute), Customer: customer(i)}
		})
		if r.ok != 50 || len(r.other) > 0 {
			t.Errorf("%d of 50 different slots booked, other %v", r.ok, r.other)
		}
	})

	// Whatever the races did, no two non-class bookings of Ana overlap.
	bs, err := s.Bookings(context.Background(), domain.BookingFilter{StaffID: ana, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range bs {
		for _, b := range bs[i+1:] {
			sameSession := a.ServiceID == yoga && b.ServiceID == yoga && a.Start.Equal(b.Start)
			if !sameSession && a.Start.Before(b.End) && b.Start.Before(a.End) {
				t.Errorf("bookings %d and %d overlap", a.ID, b.ID)
			}
		}
	}
}

func TestCreateBooking(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	ben := mustStaff(t, s, "Ben", hours(weekdays, iv("09:00", "18:00")))
	room, err := s.CreateResource(ctx, "Room 1")
	if err != nil {
		t.Fatal(err)
	}
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, BufferAfter: 15 * time.Minute, StaffIDs: []int64{ana, ben}})
	massage := mustService(t, s, domain.Service{Name: "Massage", Duration: time.Hour, StaffIDs: []int64{ana, ben}, ResourceIDs: []int64{room}})
	tue := date("2026-06-02")

	book := func(svc, staff int64, start time.Time, c domain.Customer) (domain.Booking, domain.ManageToken, error) {
		return s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff, Start: start, Customer: c})
	}

	t.Run("OK", func(t *testing.T) {
		b, token, err := book(cut, ana, at(tue, "10:00"), domain.Customer{Name: " Eva ", Email: "Eva@Example.com", Phone: "600"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != domain.StatusConfirmed || b.StaffID != ana || !b.Start.Equal(at(tue, "10:00")) || !b.End.Equal(at(tue, "10:30")) {
			t.Errorf("booking %+v", b)
		}
		if len(token) < 40 {
			t.Errorf("token %q is too short to be unguessable", token)
		}
		c, err := s.CustomerByEmail(ctx, "eva@example.com")
		if err != nil || c.Name != "Eva" || c.ID != b.CustomerID {
			t.Errorf("customer %+v, %v", c, err)
		}
		got, err := s.BookingByToken(ctx, token)
		if err != nil || got.ID != b.ID {
			t.Errorf("by token: %+v, %v", got, err)
		}
	})
	t.Run("ErrOverlapNotJustSameStart", func(t *testing.T) {
		for _, start := range []string{"10:00", "10:15", "09:45", "10:30"} { // 10:30 is in the 15-min buffer
			if _, _, err := book(cut, ana, at(tue, start), customer(2)); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
				t.Errorf("start %s over a 10:00–10:30 (+15) booking: %v", start, err)
			}
		}
		if _, _, err := book(cut, ana, at(tue, "10:45"), customer(2)); err != nil {
			t.Errorf("10:45, right after the buffer: %v", err)
		}
	})
	t.Run("Anyone", func(t *testing.T) {
		b, _, err := book(cut, 0, at(tue, "10:00"), customer(3))
		if err != nil || b.StaffID != ben {
			t.Errorf("anyone at 10:00 (Ana busy): staff %d, %v; want Ben", b.StaffID, err)
		}
	})
	t.Run("Resources", func(t *testing.T) {
		if _, _, err := book(massage, ana, at(tue, "15:00"), customer(4)); err != nil {
			t.Fatal(err)
		}
		// Ben is free, but the only room is taken.
		if _, _, err := book(massage, ben, at(tue, "15:30"), customer(5)); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("room double-booked: %v", err)
		}
		if _, _, err := book(massage, ben, at(tue, "16:00"), customer(5)); err != nil {
			t.Errorf("room free again at 16:00: %v", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		cases := []struct {
			c     domain.Customer
			start time.Time
			field string
		}{
			{domain.Customer{Name: "", Email: "a@b.co"}, at(tue, "12:00"), "customer.name"},
			{domain.Customer{Name: "A", Email: "not-an-email"}, at(tue, "12:00"), "customer.email"},
			{domain.Customer{Name: "A", Email: "a@b.co"}, time.Time{}, "start"},
		}
		for _, c := range cases {
			_, _, err := book(cut, ana, c.start, c.c)
			var e *domain.Error
			if !asError(err, &e) || e.Code != domain.EINVALID || e.Field != c.field {
				t.Errorf("want EINVALID on %s, got %v", c.field, err)
			}
		}
		if _, _, err := book(cut, ana, at(tue, "12:05"), customer(6)); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("off the slot grid: %v", err)
		}
		if _, _, err := book(cut, ana, at(tue, "07:00"), customer(6)); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("before opening: %v", err)
		}
	})
	t.Run("Idempotency", func(t *testing.T) {
		req := domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "16:00"), Customer: customer(7), IdempotencyKey: "retry-123"}
		b1, t1, err := s.CreateBooking(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b2, t2, err := s.CreateBooking(ctx, req)
		if err != nil || b2.ID != b1.ID {
			t.Fatalf("retry gave booking %d (%v), want %d", b2.ID, err, b1.ID)
		}
		for _, tok := range []domain.ManageToken{t1, t2} {
			if got, err := s.BookingByToken(ctx, tok); err != nil || got.ID != b1.ID {
				t.Errorf("token of a retried request: %v", err)
			}
		}
		n, _ := s.Bookings(ctx, domain.BookingFilter{StaffID: ana, From: at(tue, "16:00"), To: at(tue, "16:01")})
		if len(n) != 1 {
			t.Errorf("%d bookings at 16:00, want 1", len(n))
		}
	})
	t.Run("RequireConfirmation", func(t *testing.T) {
		mustSettings(t, s, func(st *domain.Settings) { st.RequireConfirmation = true })
		defer mustSettings(t, s, func(st *domain.Settings) { st.RequireConfirmation = false })
		b, _, err := book(cut, ben, at(tue, "17:00"), customer(8))
		if err != nil || b.Status != domain.StatusPending {
			t.Fatalf("status %s, %v; want pending", b.Status, err)
		}
		if b, err = s.Confirm(ctx, b.ID, "staff:Ana"); err != nil || b.Status != domain.StatusConfirmed {
			t.Errorf("confirm: %s %v", b.Status, err)
		}
		if _, err = s.Confirm(ctx, b.ID, "staff:Ana"); domain.ErrorCode(err) != domain.ECONFLICT {
			t.Errorf("confirm twice: %v", err)
		}
	})
	t.Run("OnBehalfIgnoresNotice", func(t *testing.T) {
		clk.Set(at(tue, "09:00"))
		defer clk.Set(monday)
		if _, _, err := book(cut, ana, at(tue, "09:00"), customer(9)); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("customer inside the 2 h notice: %v", err)
		}
		_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "09:00"),
			Customer: customer(9), OnBehalf: true, Actor: "staff:Ana"})
		if err != nil {
			t.Errorf("staff inside the notice: %v", err)
		}
		_, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "10:00"),
			Customer: customer(9), OnBehalf: true, Actor: "staff:Ana"})
		if domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("staff may skip notice but never overlap: %v", err)
		}
	})
}

func asError(err error, target **domain.Error) bool { return errors.As(err, target) }

func TestManageByToken(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: time.Hour, StaffIDs: []int64{ana}})
	wed := date("2026-06-03")
	b, token, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(wed, "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(wed, "12:00"), Customer: customer(2)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ErrBadToken", func(t *testing.T) {
		for _, tok := range []domain.ManageToken{"", "short", domain.ManageToken(strings.Repeat("A", 52)), "../../etc/passwd", token + "x"} {
			if _, err := s.BookingByToken(ctx, tok); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Errorf("token %q: %v", tok, err)
			}
		}
	})
	t.Run("RescheduleKeepsID", func(t *testing.T) {
		if _, err := s.RescheduleByToken(ctx, token, at(wed, "12:30"), 0); domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
			t.Errorf("onto another booking: %v", err)
		}
		// Moving by half an hour overlaps the booking's own old time: that is fine.
		moved, err := s.RescheduleByToken(ctx, token, at(wed, "10:30"), 0)
		if err != nil || moved.ID != b.ID || !moved.Start.Equal(at(wed, "10:30")) {
			t.Fatalf("reschedule: %+v, %v", moved, err)
		}
	})
	t.Run("ErrTooLate", func(t *testing.T) {
		clk.Set(at(wed, "10:30").Add(-23 * time.Hour)) // less than 24 h before 10:30
		defer clk.Set(monday)
		_, err := s.CancelByToken(ctx, token, "sick")
		if domain.ErrorCode(err) != domain.ETOOLATE || !strings.Contains(domain.ErrorMessage(err), "until 1 day before the start") {
			t.Errorf("cancel inside the cutoff: %v", err)
		}
		if _, err := s.RescheduleByToken(ctx, token, at(wed, "15:00"), 0); domain.ErrorCode(err) != domain.ETOOLATE {
			t.Errorf("reschedule inside the cutoff: %v", err)
		}
		// Staff are not bound by the cutoff.
		if _, err := s.Move(ctx, other.ID, at(wed, "14:00"), ana, "staff:Ana"); err != nil {
			t.Errorf("staff move: %v", err)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		c, err := s.CancelByToken(ctx, token, "sick")
		if err != nil || c.Status != domain.StatusCancelled || c.CancelReason != "sick" || c.CancelledBy != "customer" {
			t.Fatalf("cancel: %+v, %v", c, err)
		}
		if _, err := s.CancelByToken(ctx, token, "again"); domain.ErrorCode(err) != domain.ECONFLICT {
			t.Errorf("cancel twice: %v", err)
		}
		// The freed time can be booked again.
		if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(wed, "10:30"), Customer: customer(3)}); err != nil {
			t.Errorf("rebook a cancelled slot: %v", err)
		}
	})
	t.Run("StaffActionsAndEvents", func(t *testing.T) {
		// An outcome waits for the booking to start (other starts Wednesday 14:00 by now).
		for name, mark := range map[string]func(context.Context, int64, domain.Actor) (domain.Booking, error){"complete": s.Complete, "no-show": s.NoShow} {
			if _, err := mark(ctx, other.ID, "staff:Ana"); domain.ErrorCode(err) != domain.ECONFLICT || !strings.Contains(err.Error(), "once it has started") {
				t.Errorf("%s before the start: %v", name, err)
			}
		}
		clk.Set(at(wed, "14:00"))
		if _, err := s.Complete(ctx, other.ID, "staff:Ana"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.NoShow(ctx, other.ID, "staff:Ana"); domain.ErrorCode(err) != domain.ECONFLICT {
			t.Errorf("no-show after completed: %v", err)
		}
		// An outcome marked by mistake is taken back: confirmed again, and the other outcome can
		// then be marked. Only an outcome can be taken back.
		if r, err := s.Reopen(ctx, other.ID, "staff:Ana"); err != nil || r.Status != domain.StatusConfirmed {
			t.Fatalf("reopen: %+v %v", r, err)
		}
		if _, err := s.Reopen(ctx, other.ID, "staff:Ana"); domain.ErrorCode(err) != domain.ECONFLICT || !strings.Contains(err.Error(), "a confirmed booking cannot be reopened") {
			t.Errorf("reopen a confirmed booking: %v", err)
		}
		if _, err := s.NoShow(ctx, other.ID, "staff:Ana"); err != nil {
			t.Errorf("no-show after reopening: %v", err)
		}
		if _, err := s.Reopen(ctx, other.ID, "staff:Ana"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Complete(ctx, other.ID, "staff:Ana"); err != nil {
			t.Fatal(err)
		}
		events, err := s.Events(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, string(e.Type)+"/"+string(e.Actor))
		}
		if want := "created/customer rescheduled/customer cancelled/customer"; strings.Join(got, " ") != want {
			t.Errorf("events %v, want %s", got, want)
		}
		events, _ = s.Events(ctx, other.ID)
		var types []string
		for _, e := range events {
			types = append(types, string(e.Type))
		}
		if want := "created rescheduled completed reopened no_show reopened completed"; strings.Join(types, " ") != want || events[2].Actor != "staff:Ana" {
			t.Errorf("staff events %v, want %s", types, want)
		}
		// Reopening corrects the business's record: the customer gets no "confirmed" email.
		msgs, err := s.DueMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.BookingID == other.ID && m.Kind == "booking_confirmed" {
				t.Errorf("reopening mailed the customer: %s", m.Subject)
			}
		}
	})
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cases := []struct {
		svc   domain.Service
		field string
		msg   string
	}{
		{domain.Service{Name: "X", Duration: 3 * time.Minute, Capacity: 1, Price: domain.Money{Currency: "EUR"}}, "duration", "duration must be between 5 and 720 minutes"},
		{domain.Service{Name: "", Duration: time.Hour, Capacity: 1, Price: domain.Money{Currency: "EUR"}}, "name", "name must be 1 to 120 characters"},
		{domain.Service{Name: "X", Duration: time.Hour, Capacity: 0, Price: domain.Money{Currency: "EUR"}}, "capacity", "capacity must be between 1 and 500"},
		{domain.Service{Name: "X", Duration: time.Hour, Capacity: 1, Price: domain.Money{Amount: -1, Currency: "EUR"}}, "price", "cannot be negative"},
		{domain.Service{Name: "X", Duration: time.Hour, Capacity: 1, Price: domain.Money{Currency: "euro"}}, "price.currency", "ISO 4217"},
		{domain.Service{Name: "X", Duration: time.Hour, Capacity: 1, Price: domain.Money{Currency: "EUR"}, StaffIDs: []int64{ana, 999}}, "staffIds", "staff member 999 does not exist"},
	}
	for _, c := range cases {
		_, err := s.CreateService(ctx, c.svc)
		var e *domain.Error
		if !asError(err, &e) || e.Field != c.field || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%+v: got %v, want %s: %s", c.svc, err, c.field, c.msg)
		}
	}
	_, err := s.CreateStaff(ctx, domain.Staff{Name: "Bo", Hours: hours(weekdays, iv("09:00", "13:00"), iv("12:00", "15:00"))})
	if e := (*domain.Error)(nil); !asError(err, &e) || !strings.Contains(e.Message, "09:00–13:00 and 12:00–15:00 overlap") {
		t.Errorf("overlapping hours: %v", err)
	}
	if services, err := s.Services(ctx, true); err != nil || len(services) != 0 {
		t.Errorf("an invalid service was stored: %+v %v", services, err)
	}
	st, _ := s.Settings(ctx)
	st.SlotStep = 7 * time.Minute
	err = s.UpdateSettings(ctx, st)
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("7-minute step: %v", err)
	}
	if msg := domain.ErrorMessage(fmt.Errorf("wrapped: %w", err)); msg != "slotStep: slot step must be a multiple of 5 minutes between 5 and 240" {
		t.Errorf("message %q", msg)
	}
	if msg := domain.ErrorMessage(errors.New("disk I/O error at /var/secret")); msg != "internal error" {
		t.Errorf("internal error shown as %q", msg)
	}
}

// Every business numbers its bookings from 1: their calendar events must still never share an
// id, or a customer's calendar keeps one of two bookings and one business's cancellation
// removes the other's event. A booking keeps its id when it moves.
func TestCalendarUIDs(t *testing.T) {
	ctx := context.Background()
	uid := func(s *domain.Store, b domain.Booking) string {
		ics, err := s.Calendar(ctx, b, "", "Acme", "")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(ics, "\r\n") {
			if v, ok := strings.CutPrefix(line, "UID:"); ok {
				return v
			}
		}
		t.Fatalf("no UID in %q", ics)
		return ""
	}
	var first []domain.Booking
	var uids []string
	for range 2 {
		s, _ := mustOpenStore(t, "Europe/Madrid", monday)
		ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
		cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
		b, token, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana,
			Start: at(date("2026-06-02"), "10:00"), Customer: customer(1)})
		if err != nil {
			t.Fatal(err)
		}
		moved, err := s.RescheduleByToken(ctx, token, at(date("2026-06-02"), "11:00"), ana)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := uid(s, b), uid(s, moved); a != b {
			t.Errorf("rescheduling changed the event's UID from %s to %s", a, b)
		}
		first, uids = append(first, b), append(uids, uid(s, b))
	}
	if first[0].ID != first[1].ID {
		t.Fatalf("ids %d and %d: the test wants both businesses' first booking to share its id", first[0].ID, first[1].ID)
	}
	if uids[0] == uids[1] || len(uids[0]) < len("@reserva")+20 {
		t.Errorf("two businesses' booking %d have calendar UIDs %q and %q", first[0].ID, uids[0], uids[1])
	}
}

// A time that has passed is refused as such, not as taken.
func TestBookPassedTime(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	start := at(date("2026-06-02"), "10:00")
	clk.Set(start.Add(time.Minute))
	for _, onBehalf := range []bool{false, true} {
		_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: start, Customer: customer(1), OnBehalf: onBehalf})
		if domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE || !strings.Contains(err.Error(), "has passed") {
			t.Errorf("booking a time that has passed (on behalf %v): %v", onBehalf, err)
		}
	}
}

// Reopening gives a booking back the status it had before its outcome: a request still waiting
// for the business's confirmation waits again, it is not confirmed behind the customer's back.
func TestReopenRestoresPending(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) { st.RequireConfirmation = true })
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	start := at(date("2026-06-02"), "10:00")
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: start, Customer: customer(1)})
	if err != nil || b.Status != domain.StatusPending {
		t.Fatalf("booking %+v, %v", b, err)
	}
	clk.Set(start)
	if _, err := s.NoShow(ctx, b.ID, "staff:Ana"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Reopen(ctx, b.ID, "staff:Ana"); err != nil || r.Status != domain.StatusPending {
		t.Errorf("reopened a pending booking as %q (%v), want pending", r.Status, err)
	}
}

// icsLine returns the value of the first line of ics that starts with name+":".
func icsLine(ics, name string) string {
	for line := range strings.SplitSeq(ics, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

// A booking moved to another staff member leaves the first one's calendar: they get a
// cancellation of the same event (METHOD:CANCEL, same UID), the new one a request, whether the
// customer or the business moved it.
func TestRescheduleToOtherStaff(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	staff := map[string]int64{}
	for _, name := range []string{"Ana", "Ben"} {
		id, err := s.CreateStaff(ctx, domain.Staff{Name: name, Email: strings.ToLower(name) + "@biz.example", Hours: hours(weekdays, iv("09:00", "18:00"))})
		if err != nil {
			t.Fatal(err)
		}
		staff[name] = id
	}
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{staff["Ana"], staff["Ben"]}})
	b, token, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: staff["Ana"],
		Start: at(date("2026-06-02"), "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Calendar(ctx, b, "", "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	uid := icsLine(first, "UID")
	due := func() map[string]domain.Message {
		t.Helper()
		msgs, err := s.DueMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		byTo := map[string]domain.Message{}
		for _, m := range msgs {
			if m.Kind != "booking_created" && m.Kind != "staff_booking_created" {
				byTo[m.To] = m
			}
		}
		return byTo
	}
	check := func(what, from, to string) {
		t.Helper()
		msgs := due()
		old, ok := msgs[from]
		if !ok || icsLine(old.ICS, "METHOD") != "CANCEL" || icsLine(old.ICS, "STATUS") != "CANCELLED" || icsLine(old.ICS, "UID") != uid ||
			!strings.Contains(old.Subject, "moved to") {
			t.Errorf("%s: to %s (left): %+v", what, from, old)
		}
		nw, ok := msgs[to]
		if !ok || icsLine(nw.ICS, "METHOD") != "REQUEST" || icsLine(nw.ICS, "UID") != uid {
			t.Errorf("%s: to %s (new): %+v", what, to, nw)
		}
		if c := msgs[customer(1).Email]; icsLine(c.ICS, "METHOD") != "REQUEST" || icsLine(c.ICS, "UID") != uid {
			t.Errorf("%s: customer: %+v", what, c)
		}
	}
	if _, err := s.RescheduleByToken(ctx, token, at(date("2026-06-02"), "11:00"), staff["Ben"]); err != nil {
		t.Fatal(err)
	}
	check("customer moved it", "ana@biz.example", "ben@biz.example")
	if _, err := s.Move(ctx, b.ID, at(date("2026-06-02"), "12:00"), staff["Ana"], "staff:Owner"); err != nil {
		t.Fatal(err)
	}
	check("staff moved it", "ben@biz.example", "ana@biz.example")
	// Moved in time only, nobody is released.
	if _, err := s.Move(ctx, b.ID, at(date("2026-06-02"), "13:00"), staff["Ana"], "staff:Owner"); err != nil {
		t.Fatal(err)
	}
	if m, ok := due()["ben@biz.example"]; ok {
		t.Errorf("a move within Ana's day mailed Ben: %s", m.Subject)
	}
}

// A booking awaiting the business's confirmation is sent as TENTATIVE; the confirmation sends
// the same event CONFIRMED with a higher sequence.
func TestPendingBookingIsTentative(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	mustSettings(t, s, func(st *domain.Settings) { st.RequireConfirmation = true })
	ana, err := s.CreateStaff(ctx, domain.Staff{Name: "Ana", Email: "ana@biz.example", Hours: hours(weekdays, iv("09:00", "18:00"))})
	if err != nil {
		t.Fatal(err)
	}
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-02"), "10:00"), Customer: customer(1)})
	if err != nil || b.Status != domain.StatusPending {
		t.Fatalf("booking %+v, %v", b, err)
	}
	sent := func() map[string]domain.Message {
		msgs, err := s.DueMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]domain.Message{}
		for _, m := range msgs {
			out[string(m.Kind)] = m
		}
		return out
	}
	ics, err := s.Calendar(ctx, b, "", "Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	msgs := sent()
	for what, ics := range map[string]string{"download": ics, "customer": msgs["booking_created"].ICS, "staff": msgs["staff_booking_created"].ICS} {
		if icsLine(ics, "STATUS") != "TENTATIVE" || icsLine(ics, "METHOD") != "REQUEST" {
			t.Errorf("%s calendar of a pending booking: %q", what, ics)
		}
	}
	if !strings.Contains(msgs["booking_created"].Subject, "will confirm") || !strings.Contains(msgs["staff_booking_created"].Subject, "to confirm") {
		t.Errorf("subjects: %q, %q", msgs["booking_created"].Subject, msgs["staff_booking_created"].Subject)
	}
	if _, err := s.Confirm(ctx, b.ID, "staff:Ana"); err != nil {
		t.Fatal(err)
	}
	confirmed := sent()["booking_confirmed"].ICS
	if icsLine(confirmed, "STATUS") != "CONFIRMED" || icsLine(confirmed, "UID") != icsLine(ics, "UID") ||
		icsLine(confirmed, "SEQUENCE") <= icsLine(ics, "SEQUENCE") {
		t.Errorf("confirmation's calendar %q after %q", confirmed, ics)
	}
}

// A calendar file is valid RFC 5545 whatever a service or business is called: TEXT escaped (a bare CR too,
// which ended the line early and let the rest of the name read as a property of its own),
// content lines folded at 75 octets without splitting a character.
func TestCalendarEscaping(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana; María, \\ Núñez", hours(weekdays, iv("09:00", "18:00")))
	name := "Cut\rX-INJECTED:yes\nline; two, \\three\r\nfour " + strings.Repeat("ñ", 60)
	cut := mustService(t, s, domain.Service{Name: name, Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(date("2026-06-02"), "10:00"), Customer: customer(1)})
	if err != nil {
		t.Fatal(err)
	}
	ics, err := s.Calendar(ctx, b, "", "Salon; Núñez, \\ & Co", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ics, "\r\n") {
		t.Errorf("no CRLF at the end: %q", ics)
	}
	lines := strings.Split(strings.TrimSuffix(ics, "\r\n"), "\r\n")
	for _, line := range lines {
		if len(line) > 75 || !utf8.ValidString(line) || strings.ContainsAny(line, "\r\n") || strings.HasPrefix(line, "X-INJECTED") {
			t.Errorf("bad content line %q", line)
		}
	}
	unfolded := strings.ReplaceAll(ics, "\r\n ", "")
	summary := icsLine(unfolded, "SUMMARY")
	unescaped := strings.NewReplacer(`\\`, `\`, `\;`, ";", `\,`, ",", `\n`, "\n").Replace(summary)
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(name) + " at Salon; Núñez, \\ & Co"
	if unescaped != want {
		t.Errorf("SUMMARY reads back as %q, want %q", unescaped, want)
	}
	if n := strings.Count(ics, "\r\n "); n < 2 {
		t.Errorf("a %d-octet summary folded %d times", len(summary), n)
	}
}

// A booking staff take by phone needs no email: a name, or a name and a phone, is enough, and
// such a customer is sent no mail. A phone customer is found again by their phone. Online, a
// customer still gives an email.
func TestBookingWithoutEmail(t *testing.T) {
	ctx := context.Background()
	l := mustOpenLease(t, "Europe/Madrid")
	s := domain.NewCachedStore(l.DB, l.Location, (&clock{t: monday}).Now)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "18:00")))
	cut := mustService(t, s, domain.Service{Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	phone := func(hhmm string, c domain.Customer, key string) (domain.Booking, error) {
		b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, hhmm), Customer: c,
			OnBehalf: true, Actor: "staff:Ana", IdempotencyKey: key})
		return b, err
	}

	t.Run("ErrOnlineNeedsEmail", func(t *testing.T) {
		_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: cut, StaffID: ana, Start: at(tue, "09:00"),
			Customer: domain.Customer{Name: "Eva", Phone: "600 000 000"}})
		var derr *domain.Error
		if !asError(err, &derr) || derr.Code != domain.EINVALID || derr.Field != "customer.email" {
			t.Errorf("an online booking without email: %v, want EINVALID on customer.email", err)
		}
	})
	t.Run("NameAndPhone", func(t *testing.T) {
		first, err := phone("10:00", domain.Customer{Name: "Pablo", Phone: "600 111 222"}, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if first.Contact != (domain.Contact{Name: "Pablo", Phone: "600 111 222"}) {
			t.Errorf("contact %+v", first.Contact)
		}
		// The same number written otherwise is the same customer; the booking keeps it as typed.
		for i, typed := range []string{"600111222", "(600) 111-222"} {
			again, err := phone([]string{"11:00", "14:00"}[i], domain.Customer{Name: "Pablo G.", Phone: typed}, "")
			if err != nil {
				t.Fatal(err)
			}
			if again.CustomerID != first.CustomerID || again.Contact.Phone != typed {
				t.Errorf("%q: customer %d (want %d), booking's phone %q", typed, again.CustomerID, first.CustomerID, again.Contact.Phone)
			}
		}
		c, err := s.Customer(ctx, first.CustomerID)
		if err != nil || c.Email != "" || c.Phone != "600 111 222" || c.Name != "Pablo" {
			t.Errorf("customer %+v, %v", c, err)
		}
		// A retry with the key returns the same booking; another customer with it is refused.
		if retry, err := phone("10:00", domain.Customer{Name: "Pablo", Phone: "600 111 222"}, "p1"); err != nil || retry.ID != first.ID {
			t.Errorf("retry: booking %d, %v; want %d", retry.ID, err, first.ID)
		}
		if _, err := phone("10:00", domain.Customer{Name: "Someone else"}, "p1"); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("the key with another customer: %v, want EINVALID", err)
		}
	})
	t.Run("NameAlone", func(t *testing.T) {
		a, err := phone("12:00", domain.Customer{Name: "Walk-in"}, "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := phone("13:00", domain.Customer{Name: "Walk-in"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if a.CustomerID == b.CustomerID {
			t.Errorf("two walk-ins with a name alone are one customer %d", a.CustomerID)
		}
		// Stored as NULL, not as a made-up address that every reader (and the export) would see.
		var stored []string
		rows, err := l.DB.Read.QueryContext(ctx, `SELECT coalesce(email, 'NULL') FROM customers WHERE id IN (?, ?) ORDER BY id`, a.CustomerID, b.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, e)
		}
		if rows.Close(); fmt.Sprint(stored) != "[NULL NULL]" {
			t.Errorf("the emails of customers who gave none are stored as %q, want NULL", stored)
		}
		if _, err := s.CustomerByEmail(ctx, ""); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("the customer with no email: %v, want ENOTFOUND", err)
		}
	})
	t.Run("NoMail", func(t *testing.T) {
		// Creation, confirmation, a move, a reminder, a cancellation: nothing goes to the customer.
		b, err := phone("15:00", domain.Customer{Name: "Quiet", Phone: "600 333 444"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if b, err = s.Move(ctx, b.ID, at(tue, "16:00"), ana, "staff:Ana"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.QueueReminders(ctx, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cancel(ctx, b.ID, "", "staff:Ana"); err != nil {
			t.Fatal(err)
		}
		msgs, err := s.DueMessages(ctx, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.To == "" || !strings.Contains(m.To, "@") {
				t.Errorf("a message to %q: %s", m.To, m.Subject)
			}
		}
		if len(msgs) != 0 {
			t.Errorf("%d messages for bookings without email and a staff member without email", len(msgs))
		}
	})
}
