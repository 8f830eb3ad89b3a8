package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
)

// Moving a booking offers the times that only the booking itself blocks: moving a 09:00 hour
// to 09:30 the same day is a choice, not "no free time".
func TestRescheduleOffersTimesItsOwnBookingBlocks(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 11*60, "Ana")
	b, token := bookAhead(t, m, "acme", svc, staff[0], "eva@example.com")
	var day domain.Date
	var loc *time.Location
	withStore(t, m, "acme", func(_ context.Context, s *domain.Store) { loc = s.Location(); day = domain.DateOf(b.Start.In(loc)) })
	c := browser(t)
	_, doc, _ := page(t, c, "GET", srv.URL+"/acme/booking/"+string(token)+"/reschedule/slots?date="+day.String(), "")
	var got []string
	doc.Find(`[data-testid="slot"]`).Each(func(_ int, s *goquery.Selection) { got = append(got, strings.TrimSpace(s.Text())) })
	for _, want := range []string{"09:00", "09:30", "10:00"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("reschedule times %v, want %s among them (only the booking being moved blocks it)", got, want)
		}
	}
	// And the move to one of them is made.
	start := day.At(9*60+30, loc).Format(time.RFC3339)
	status, _, hdr := page(t, c, "POST", srv.URL+"/acme/booking/"+string(token)+"/reschedule", "start="+url.QueryEscape(start))
	if status != 303 || !strings.Contains(hdr.Get("Location"), "msg=moved") {
		t.Errorf("move to 09:30: %d %s", status, hdr.Get("Location"))
	}
}
