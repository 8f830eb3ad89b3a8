package web_test

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reserva/reserva/domain"
)

// bigDesktop is the desktop the dashboard is tried on.
var bigDesktop = chromedp.EmulateViewport(1366, 768)

// cardGeometry is where a booking's card and its column sit on the screen, and where the grid
// says a wall-clock time is (from the column's body and the grid's rows).
type cardGeometry struct {
	Column    string  `json:"column"` // the column's heading
	Top       float64 `json:"top"`    // the card's top edge
	X         float64 `json:"x"`      // the card's centre
	CY        float64 `json:"y"`
	RowHeight float64 `json:"rowHeight"`
	BodyTop   float64 `json:"bodyTop"`
	From      int     `json:"from"` // the grid's first minute
}

func geometry(t *testing.T, tab context.Context, id int64) cardGeometry {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const card = document.querySelector('[data-testid="booking"][data-id="%d"]');
		if (!card) return null;
		const col = card.closest('.tg-col'), body = col.querySelector('.tg-body'), grid = document.getElementById('time-grid');
		const r = card.getBoundingClientRect(), b = body.getBoundingClientRect();
		const rows = parseInt(getComputedStyle(grid).getPropertyValue('--rows'), 10);
		return {column: col.querySelector('h3').textContent.trim(), top: r.top, x: r.left + r.width / 2, y: r.top + r.height / 2,
			rowHeight: b.height / rows, bodyTop: b.top, from: parseInt(grid.dataset.from, 10)};
	})()`, id)
	return value(t, tab, "card geometry", chromedp.Evaluate[cardGeometry](js))
}

// columnCentre is the x of the centre of the day view's column of staff member name.
func columnCentre(t *testing.T, tab context.Context, name string) float64 {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const col = [...document.querySelectorAll('.tg-col')].find(c => c.querySelector('h3').textContent.trim() === %q);
		const r = col.getBoundingClientRect();
		return r.left + r.width / 2;
	})()`, name)
	return value(t, tab, "column of "+name, chromedp.Evaluate[float64](js))
}

// The dashboard's time grid in Chromium at 1366x768: a booking sits in its staff member's
// column at the rows of its time; dragged to another staff member and time it is moved (the
// database says so); dragged onto a taken time it goes back and says why; a booking made
// elsewhere appears without a reload; a click on empty time opens the phone-booking form there.
func TestEndToEndCalendarGrid(t *testing.T) {
	// The site first, so that its cleanup runs after the browser's: the browser's websocket
	// holds a lease on the business until the browser goes.
	srv, m := site(t)
	tab := browserTab(t)
	svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana", "Ben")
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	book := func(staffID int64, minute int, name string) domain.Booking {
		var b domain.Booking
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			var err error
			if b, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staffID, Start: day.At(minute, loc),
				Customer: domain.Customer{Name: name, Email: strings.ToLower(name) + "@example.com"}, Actor: "customer"}); err != nil {
				t.Fatal(err)
			}
		})
		return b
	}
	eva := book(staff[0], 10*60, "Eva")
	book(staff[0], 15*60, "Kim")

	do(t, tab, "sign in", bigDesktop,
		chromedp.Navigate(srv.URL+"/acme/admin/login"),
		chromedp.SendKeys(chromedp.CSS("#email"), "owner@acme.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-calendar"]`)),
		chromedp.Navigate(srv.URL+"/acme/admin/calendar?date="+day.String()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="time-grid"]`)),
	)
	// The script has subscribed to the booking events.
	value(t, tab, "live updates", chromedp.Poll[bool](`document.documentElement.dataset.live === 'on'`, chromedp.WithPollingTimeout(15*time.Second)))
	shot(t, tab, "desktop-calendar-grid")
	// The drags and clicks below stay within the 768 pixels of the window.
	scroll := chromedp.Evaluate[bool](`document.getElementById('time-grid').scrollIntoView(), true`)
	value(t, tab, "scroll to the grid", scroll)

	// Eva's booking is in Ana's column, its top at the row of 10:00.
	g := geometry(t, tab, eva.ID)
	wantTop := g.BodyTop + float64(10*60-g.From)/5*g.RowHeight
	if g.Column != "Ana" || math.Abs(g.Top-wantTop) > 2 {
		t.Fatalf("Eva's card in column %q at y=%.1f, want Ana at y=%.1f (10:00)", g.Column, g.Top, wantTop)
	}

	// Dragged to Ben at 12:00: moved.
	dy := float64(12*60-10*60) / 5 * g.RowHeight
	do(t, tab, "drag Eva's booking to Ben at 12:00", chromedp.DragAndDropXY(g.X, g.CY, columnCentre(t, tab, "Ben"), g.CY+dy))
	stored := func() domain.Booking {
		var b domain.Booking
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			var err error
			if b, err = s.Booking(ctx, eva.ID); err != nil {
				t.Fatal(err)
			}
		})
		return b
	}
	want := day.At(12*60, loc)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b := stored(); b.Start.Equal(want) && b.StaffID == staff[1] {
			break
		}
		if time.Now().After(deadline) {
			b := stored()
			t.Fatalf("after the drag the booking is at %s with staff %d, want %s with %d (Ben); the page says %q",
				b.Start.In(loc), b.StaffID, want, staff[1], waitText(t, tab, `[data-testid="grid-message"]`, ""))
		}
	}
	waitText(t, tab, `[data-testid="grid-message"]`, "Booking moved")
	waitText(t, tab, `.tg-col[aria-label="Ben"] [data-testid="booking"][data-id="`+fmt.Sprint(eva.ID)+`"]`, "12:00–13:00")
	shot(t, tab, "desktop-calendar-dragged")

	// Dragged onto Kim's time (Ana, 15:00): refused, the card back where it was, the reason shown.
	value(t, tab, "scroll to the grid", scroll)
	g = geometry(t, tab, eva.ID)
	dy = float64(15*60-12*60) / 5 * g.RowHeight
	do(t, tab, "drag onto a taken time", chromedp.DragAndDropXY(g.X, g.CY, columnCentre(t, tab, "Ana"), g.CY+dy))
	waitText(t, tab, `[data-testid="grid-message"]`, "not free")
	if b := stored(); !b.Start.Equal(want) || b.StaffID != staff[1] {
		t.Errorf("a refused move moved the booking: %s staff %d", b.Start.In(loc), b.StaffID)
	}
	if back := geometry(t, tab, eva.ID); back.Column != "Ben" || math.Abs(back.Top-g.Top) > 1 {
		t.Errorf("the refused card is in %q at y=%.1f, want back in Ben at y=%.1f", back.Column, back.Top, g.Top)
	}
	shot(t, tab, "desktop-calendar-refused")

	// A booking made elsewhere (the public site, another user) appears by itself.
	leo := book(staff[0], 11*60, "Leo")
	waitText(t, tab, `[data-testid="booking"][data-id="`+fmt.Sprint(leo.ID)+`"]`, "Leo")

	// A click on Ana's empty time at about 16:20 opens the phone-booking form at 16:15 with Ana.
	value(t, tab, "scroll to the grid", scroll)
	g = geometry(t, tab, leo.ID)
	y := g.BodyTop + float64(16*60+20-g.From)/5*g.RowHeight
	do(t, tab, "click empty time",
		chromedp.MouseClickXY(columnCentre(t, tab, "Ana"), y),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-booking-form"]`)),
	)
	loc2 := value(t, tab, "form address", chromedp.Location())
	u, _ := url.Parse(loc2)
	if got := value(t, tab, "time", chromedp.Value(chromedp.CSS("#time"))); got != "16:15" || u.Query().Get("staff") != fmt.Sprint(staff[0]) {
		t.Errorf("phone-booking form at %q (%s), want 16:15 with Ana", got, loc2)
	}
	if got := value(t, tab, "staff", chromedp.Value(chromedp.CSS("#staff"))); got != fmt.Sprint(staff[0]) {
		t.Errorf("phone-booking form with staff %q, want %d", got, staff[0])
	}
	shot(t, tab, "desktop-calendar-book-by-phone")
}
