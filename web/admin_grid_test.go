package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// The calendar's time grid: a column per staff member in the day view, per day in the week
// view; working hours, breaks, a day off and time off shaded; each booking placed at the rows
// of its time (5-minute rows from the window's first hour), in the business's zone.
func TestCalendarGrid(t *testing.T) {
	srv, m := site(t)
	_, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana", "Ben")
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	var booked domain.Booking
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		ana, err := s.StaffMember(ctx, staff[0])
		if err != nil {
			t.Fatal(err)
		}
		for d := range ana.Hours { // a lunch break
			ana.Hours[d] = []domain.Interval{{Start: 9 * 60, End: 13 * 60}, {Start: 14 * 60, End: 17 * 60}}
		}
		if err := s.UpdateStaff(ctx, ana); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDateOverride(ctx, domain.DateOverride{StaffID: staff[1], Date: day}); err != nil { // Ben's day off
			t.Fatal(err)
		}
		if _, err := s.AddTimeOff(ctx, domain.TimeOff{StaffID: staff[0], Start: day.At(16*60, loc), End: day.At(17*60, loc), Reason: "Dentist"}); err != nil {
			t.Fatal(err)
		}
		svc, _ := s.Services(ctx, false)
		if booked, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc[0].ID, StaffID: staff[0], Start: day.At(10*60+30, loc),
			Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}, Actor: "customer"}); err != nil {
			t.Fatal(err)
		}
	})
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	base := srv.URL + "/acme/admin/calendar"

	_, doc, _ := page(t, c, "GET", base+"?date="+day.String(), "")
	cols := doc.Find(`[data-testid="time-grid"] [data-testid="cal-staff"]`)
	if cols.Length() != 2 || strings.TrimSpace(cols.Eq(0).Find("h3").Text()) != "Ana" || strings.TrimSpace(cols.Eq(1).Find("h3").Text()) != "Ben" {
		t.Fatalf("day view columns: %d %s", cols.Length(), cols.Text())
	}
	ana, ben := cols.Eq(0), cols.Eq(1)
	// The window is 09:00–17:00: row 1 is 09:00, so 10:30 is row 19 and an hour is 12 rows.
	card := ana.Find(fmt.Sprintf(`[data-testid="booking"][data-id="%d"]`, booked.ID))
	if st, _ := card.Attr("style"); st != "grid-row: 19 / span 12; grid-column: 1;" || !strings.Contains(card.Text(), "10:30–11:30 Massage · Eva") {
		t.Errorf("booking card: %q %q", st, card.Text())
	}
	if got := attr(t, doc, ".tg-hour", "style"); got != "grid-row: 1 / span 12; grid-column: 1 / -1;" || text(doc, ".tg-hour:first-child") != "09:00" {
		t.Errorf("first hour: %q %q", got, text(doc, ".tg-hour:first-child"))
	}
	if st, _ := ana.Find(`[data-testid="tg-break"]`).Attr("style"); st != "grid-row: 49 / span 12; grid-column: 1 / -1;" {
		t.Errorf("lunch break: %q", st)
	}
	if away := ana.Find(`[data-testid="tg-away"]`); !strings.Contains(away.Text(), "Dentist") {
		t.Errorf("time off: %q", away.Text())
	}
	if ana.Find(`[data-testid="tg-work"]`).Length() != 2 || ben.Find(`[data-testid="tg-work"]`).Length() != 0 ||
		!strings.Contains(ben.Find(`[data-testid="tg-off"]`).Text(), "Day off") {
		t.Errorf("working hours: Ana %d blocks, Ben %q", ana.Find(`[data-testid="tg-work"]`).Length(), ben.Text())
	}
	// An empty working time books by phone, for that staff member, at its start.
	if href, _ := ana.Find(`[data-testid="tg-work"]`).Last().Attr("href"); !strings.Contains(href, "time=14%3A00") || !strings.Contains(href, fmt.Sprintf("staff=%d", staff[0])) {
		t.Errorf("empty time links to %q", href)
	}
	// No cancel form without an open booking: the cards are links to the side panel.
	if doc.Find(`[data-testid="cancel-form"]`).Length() != 0 || doc.Find(`[data-testid="booking-panel"]`).Length() != 0 {
		t.Error("a cancel form or a panel with no booking opened")
	}
	href, _ := card.Attr("href")
	_, doc, _ = page(t, c, "GET", srv.URL+href, "")
	if p := doc.Find(`[data-testid="booking-panel"]`); p.Length() != 1 || !strings.Contains(p.Text(), "10:30–11:30") || p.Find(`[data-testid="cancel-form"]`).Length() != 1 {
		t.Errorf("side panel from %s: %q", href, p.Text())
	}

	// The week of one staff member: a column per day, the booking on its day.
	_, doc, _ = page(t, c, "GET", base+fmt.Sprintf("?view=week&date=%s&staff=%d", day, staff[0]), "")
	days := doc.Find(`[data-testid="cal-day"]`)
	col := doc.Find(`[data-testid="cal-day"][data-date="` + day.String() + `"]`)
	if days.Length() != 7 || col.Find(`[data-testid="booking"]`).Length() != 1 || doc.Find(`[data-testid="booking"]`).Length() != 1 ||
		col.Find(`[data-testid="tg-break"]`).Length() != 1 {
		t.Errorf("week view: %d days, %d bookings on %s", days.Length(), col.Find(`[data-testid="booking"]`).Length(), day)
	}
}

// The calendar's script moves a booking through the move form's route, asking for JSON: a
// refusal says why in plain words, a move says it is done; neither leaves a notice for the
// next page.
func TestMoveBookingJSON(t *testing.T) {
	srv, m := site(t)
	svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	var eva domain.Booking
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		for i, name := range []string{"Eva", "Kim"} {
			b, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At((10+4*i)*60, loc),
				Customer: domain.Customer{Name: name, Email: name + "@example.com"}, Actor: "customer"})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				eva = b
			}
		}
	})
	c := browser(t)
	signIn(t, srv.URL, c, "acme", "owner@acme.example")
	move := func(clock string) (int, string, string) {
		status, body, h := send(t, c, "POST", srv.URL+fmt.Sprintf("/acme/admin/bookings/%d/move", eva.ID),
			url.Values{"date": {day.String()}, "time": {clock}, "staff": {fmt.Sprint(staff[0])}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
		return status, body, h.Get("Content-Type")
	}
	if status, body, ct := move("14:30"); status != http.StatusUnprocessableEntity || ct != "application/json" ||
		!strings.Contains(body, `"ok":false`) || !strings.Contains(body, "That time is not free") {
		t.Errorf("onto a taken time: %d %s %s", status, ct, body)
	}
	if status, body, _ := move("25:00"); status != http.StatusUnprocessableEntity || !strings.Contains(body, "Not moved: ") {
		t.Errorf("to 25:00: %d %s", status, body)
	}
	if status, body, _ := move("12:00"); status != http.StatusOK || !strings.Contains(body, `"ok":true`) {
		t.Errorf("move: %d %s", status, body)
	}
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		if b, err := s.Booking(ctx, eva.ID); err != nil || !b.Start.Equal(day.At(12*60, loc)) {
			t.Errorf("stored: %v %v", b.Start, err)
		}
	})
	if _, doc, _ := page(t, c, "GET", srv.URL+"/acme/admin/calendar", ""); doc.Find(`[data-testid="flash"]`).Length() != 0 {
		t.Errorf("a notice left for the next page: %q", text(doc, `[data-testid="flash"]`))
	}
}
