package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/logctx"
	"github.com/reserva/reserva/tenancy"
)

// logBuffer collects the server's JSON log lines; the server writes from its own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the logged records whose message is msg.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var rec map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// bookAhead books the first hour of business slug's day in four days with staff, as a customer,
// and returns the manage token.
func bookAhead(t *testing.T, m *tenancy.Manager, slug string, svc, staff int64, email string) (domain.Booking, domain.ManageToken) {
	t.Helper()
	var b domain.Booking
	var token domain.ManageToken
	withStore(t, m, slug, func(ctx context.Context, s *domain.Store) {
		day := domain.DateOf(time.Now().In(s.Location())).AddDays(4)
		var err error
		b, token, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff, Start: day.At(9*60, s.Location()),
			Customer: domain.Customer{Name: "Eva", Email: email}})
		if err != nil {
			t.Fatal(err)
		}
	})
	return b, token
}

// A cancellation reason over 500 characters is refused as such, on the booking's page with the
// form still there, not as "already cancelled or over".
func TestCancelReasonTooLong(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	_, token := bookAhead(t, m, "acme", svc, staff[0], "eva@example.com")
	c := browser(t)
	manage := srv.URL + "/acme/booking/" + string(token)

	status, doc, _ := page(t, c, "POST", manage+"/cancel", url.Values{"reason": {strings.Repeat("x", 501)}}.Encode())
	msg := doc.Find(`[data-testid="message"]`).Text()
	if status != http.StatusUnprocessableEntity || !strings.Contains(msg, "at most 500 characters") || strings.Contains(msg, "cancelled or over") {
		t.Errorf("long reason: %d %q", status, msg)
	}
	if doc.Find(`[data-testid="cancel-page"] [data-testid="cancel"]`).Length() != 1 || doc.Find("#reason").Length() != 1 {
		t.Errorf("the cancel form after a refused cancellation: %s", doc.Find("main").Text())
	}
	// A reason of 500 characters cancels.
	if status, _, hdr := page(t, c, "POST", manage+"/cancel", url.Values{"reason": {strings.Repeat("x", 500)}}.Encode()); status != http.StatusSeeOther || !strings.HasSuffix(hdr.Get("Location"), "msg=cancelled") {
		t.Errorf("500 characters: %d %s", status, hdr.Get("Location"))
	}
	// Cancelled twice: the booking's page says why, as a conflict.
	status, doc, _ = page(t, c, "POST", manage+"/cancel", "reason=again")
	if status != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "already cancelled") {
		t.Errorf("cancelled twice: %d %q", status, doc.Find(`[data-testid="message"]`).Text())
	}
}

// When the time a customer chose was taken and the other times of that day cannot be read (the
// database fails), the customer gets the server's error page and the failure is logged with the
// business and the request id: not "choose another day" as if the day were full.
func TestOtherTimesReadFailure(t *testing.T) {
	logs := &logBuffer{}
	srv, m := siteLogging(t, slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, nil))))
	svc, staff := openEveryDay(t, m, "acme", 9*60, 17*60, "Ana")
	b, _ := bookAhead(t, m, "acme", svc, staff[0], "eva@example.com")
	c := browser(t)
	base := srv.URL + "/acme/book/" + strconv.FormatInt(svc, 10)
	// The catalog is read (and kept) after the booking; then the read connections fail.
	if status, _, _ := page(t, c, "GET", base, ""); status != http.StatusOK {
		t.Fatalf("days: %d", status)
	}
	withLease(t, m, "acme", func(_ context.Context, l *tenancy.Lease) { _ = l.DB.Read.Close() }) // it stays closed: the failure under test

	taken := url.Values{"start": {b.Start.Format(time.RFC3339)}, "staff": {strconv.FormatInt(staff[0], 10)}, "key": {"k2"},
		"name": {"Tom"}, "email": {"tom@example.com"}}
	status, doc, hdr := page(t, c, "POST", base, taken.Encode())
	if status != http.StatusInternalServerError || doc.Find(`[data-testid="other-days"]`).Length() != 0 {
		t.Fatalf("other times unreadable: %d %s", status, doc.Find("main").Text())
	}
	recs := logs.records(t, "server error")
	if len(recs) != 1 || recs[0]["tenant"] != "acme" || recs[0]["request_id"] != hdr.Get("X-Request-Id") || recs[0]["err"] == nil {
		t.Errorf("logged: %v (request %s)", recs, hdr.Get("X-Request-Id"))
	}
}
