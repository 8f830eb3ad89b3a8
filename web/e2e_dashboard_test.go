package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reserva/reserva/domain"
)

// axe-core on every dashboard page, as an owner sees them with a booking, a customer, staff
// and a service in place, on a desktop and a phone: no serious or critical violation.
func TestEndToEndDashboardA11y(t *testing.T) {
	axe := axeScript(t)
	for _, vp := range []struct {
		name          string
		width, height int64
	}{{"desktop", 1366, 768}, {"phone", 390, 844}} {
		t.Run(vp.name, func(t *testing.T) {
			srv, m := site(t) // before the browser: its cleanup runs after the browser's
			tab := browserTab(t)
			svcID, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana", "Ben")
			loc, _ := time.LoadLocation("Europe/Madrid")
			day := domain.DateOf(time.Now().In(loc)).AddDays(3)
			var b domain.Booking
			withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
				var err error
				if b, _, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svcID, StaffID: staff[0], Start: day.At(10*60, loc),
					Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}, Actor: "customer"}); err != nil {
					t.Fatal(err)
				}
			})
			do(t, tab, "sign in", chromedp.EmulateViewport(vp.width, vp.height),
				chromedp.Navigate(srv.URL+"/acme/admin/login"),
				chromedp.SendKeys(chromedp.CSS("#email"), "owner@acme.example"),
				chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
				chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-nav"]`)),
			)
			pages := []string{"", "/calendar?date=" + day.String(), fmt.Sprintf("/calendar?date=%s&booking=%d", day, b.ID),
				fmt.Sprintf("/calendar?date=%s&view=week", day), "/bookings/new", fmt.Sprintf("/bookings/%d", b.ID),
				"/customers", "/services", fmt.Sprintf("/services/%d", svcID), "/staff", fmt.Sprintf("/staff/%d", staff[0]),
				"/resources", "/settings", "/users", "/tokens", "/account"}
			for _, p := range pages {
				do(t, tab, "open "+p, chromedp.Navigate(srv.URL+"/acme/admin"+p),
					chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-nav"]`)))
				name := strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(strings.TrimPrefix(p, "/"))
				if name == "" {
					name = "home"
				}
				shot(t, tab, "dashboard-"+vp.name+"-"+name)
				checkA11y(t, tab, axe, vp.name+" "+p)
			}
		})
	}
}
