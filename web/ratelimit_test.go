package web_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/web"
)

// Behind a trusted proxy each customer has their own booking allowance (X-Forwarded-For), the
// public form is limited like GraphQL's createBooking, a 429 says when to come back
// (Retry-After), and a form sent again whose booking was made still reaches it.
func TestBookingFormRateLimit(t *testing.T) {
	proxies, err := ratelimit.ParseProxies("127.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	srv, m := siteLogging(t, slog.New(slog.DiscardHandler), func(s *web.Server) { s.TrustedProxies = proxies })
	svc, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	action := srv.URL + "/acme/book/" + strconv.FormatInt(svc, 10)
	day := time.Now().AddDate(0, 0, 4)
	madrid, _ := time.LoadLocation("Europe/Madrid")
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, madrid).Format(time.RFC3339)
	c := browser(t)
	postFrom := func(client string, vals url.Values) (int, string, http.Header) {
		t.Helper()
		return send(t, c, "POST", action, vals.Encode(), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": client + ", 127.0.0.9"})
	}
	good := url.Values{"start": {start}, "staff": {strconv.FormatInt(staff[0], 10)}, "key": {"form-key-1"}, "name": {"Eva"}, "email": {"eva@example.com"}}
	bad := url.Values{"start": {start}, "staff": {strconv.FormatInt(staff[0], 10)}, "key": {"k"}, "name": {"Bot"}, "email": {"nope"}}

	status, _, hdr := postFrom("203.0.113.1", good)
	manage := hdr.Get("Location")
	if status != http.StatusSeeOther || !strings.HasPrefix(manage, "/acme/booking/") {
		t.Fatalf("booking: %d %s", status, manage)
	}
	for i := range 9 {
		if status, _, _ := postFrom("203.0.113.1", bad); status != http.StatusUnprocessableEntity {
			t.Fatalf("attempt %d: %d", i+2, status)
		}
	}
	status, body, hdr := postFrom("203.0.113.1", bad)
	secs, _ := strconv.Atoi(hdr.Get("Retry-After"))
	if status != http.StatusTooManyRequests || secs < 1 || secs > 6 || !strings.Contains(body, "Too many bookings") {
		t.Errorf("11th form from one customer: %d Retry-After %q", status, hdr.Get("Retry-After"))
	}
	// The same form again: its booking was made, so it goes to the booking's page.
	status, _, hdr = postFrom("203.0.113.1", good)
	if status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/acme/booking/") || hdr.Get("Location") == manage {
		t.Errorf("the booked form sent again over the limit: %d %s", status, hdr.Get("Location"))
	}
	// Another customer behind the same proxy is not limited by the first one.
	if status, _, _ := postFrom("203.0.113.2", bad); status != http.StatusUnprocessableEntity {
		t.Errorf("another customer behind the proxy: %d", status)
	}
}
