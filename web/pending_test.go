package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// A booking that waits for the business's confirmation says so ("Request sent"), not "Booked!",
// and its calendar file says TENTATIVE until the business confirms it.
func TestPendingBookingPage(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, _ := s.Settings(ctx)
		st.RequireConfirmation = true
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
	})
	b, _ := bookAhead(t, m, "acme", svc, staff[0], "someone@example.com") // takes 09:00
	c := browser(t)
	start := b.Start.Add(2 * b.End.Sub(b.Start))
	fields := url.Values{"start": {start.Format(time.RFC3339)}, "staff": {strconv.FormatInt(staff[0], 10)}, "key": {"k1"},
		"name": {"Eva"}, "email": {"eva@example.com"}}
	status, _, hdr := page(t, c, "POST", srv.URL+"/acme/book/"+strconv.FormatInt(svc, 10), fields.Encode())
	if status != http.StatusSeeOther {
		t.Fatalf("book: %d", status)
	}
	_, doc, _ := page(t, c, "GET", srv.URL+hdr.Get("Location"), "")
	if got := doc.Find(`[data-testid="confirmation"]`).Text(); !strings.Contains(got, "Request sent") || strings.Contains(got, "Booked") {
		t.Errorf("confirmation of a pending booking: %q", got)
	}
	if doc.Find(`[data-testid="pending-note"]`).Length() != 1 {
		t.Errorf("no pending note: %s", doc.Find("main").Text())
	}
	ics := func() string {
		res, err := c.Get(srv.URL + attr(t, doc, `[data-testid="ics"]`, "href"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(res.Body)
		return string(body)
	}
	if got := ics(); !strings.Contains(got, "\r\nSTATUS:TENTATIVE\r\n") {
		t.Errorf("calendar of a pending booking: %q", got)
	}
	var id int64
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		bs, err := s.Bookings(ctx, domain.BookingFilter{Status: domain.StatusPending})
		if err != nil || len(bs) != 2 {
			t.Fatalf("pending bookings: %v %v", bs, err)
		}
		for _, x := range bs {
			if x.Contact.Email == "eva@example.com" {
				id = x.ID
			}
		}
		if _, err := s.Confirm(ctx, id, "staff:Owner"); err != nil {
			t.Fatal(err)
		}
	})
	if got := ics(); !strings.Contains(got, "\r\nSTATUS:CONFIRMED\r\n") {
		t.Errorf("calendar once confirmed: %q", got)
	}
}
