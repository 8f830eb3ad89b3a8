package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
)

// The business's locale setting picks the public pages' language; a visitor's Accept-Language
// switches among the four Reserva speaks, and an explicit ?lang= (kept in a cookie) wins. The
// dashboard stays in English.
func TestLanguageNegotiation(t *testing.T) {
	srv, m := site(t)
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, err := s.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Locale = "es-ES"
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
	})
	c := browser(t)
	lang := func(path, accept string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		doc, err := goquery.NewDocumentFromReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		htmlLang, _ := doc.Find("html").Attr("lang")
		if cl := res.Header.Get("Content-Language"); cl != "" && cl != htmlLang {
			t.Errorf("%s: Content-Language %q, <html lang=%q>", path, cl, htmlLang)
		}
		return htmlLang
	}
	for _, c := range []struct{ path, accept, want string }{
		{"/acme", "", "es"},
		{"/acme", "ja, zh;q=0.5", "es"},
		{"/acme", "de-DE,de;q=0.9,en;q=0.5", "de"},
		{"/acme", "en-GB", "en"},
		{"/acme/admin/login", "de", "en"},
		{"/no-such-business", "fr-FR,fr;q=0.9", "fr"}, // answered before any business is known
	} {
		if got := lang(c.path, c.accept); got != c.want {
			t.Errorf("GET %s with Accept-Language %q: %q, want %q", c.path, c.accept, got, c.want)
		}
	}
	if got := lang("/acme?lang=fr", "de"); got != "fr" {
		t.Errorf("?lang=fr: %q", got)
	}
	if got := lang("/acme", "de"); got != "fr" {
		t.Errorf("after choosing French: %q, want the choice kept", got)
	}
}

// The calendar file a customer downloads is the one the mail carries: the business's name in
// SUMMARY and as ORGANIZER, the customer as ATTENDEE, the place, a link back to the booking and
// a reminder, in the page's language.
func TestCalendarDownload(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	var token domain.ManageToken
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, _ := s.Settings(ctx)
		st.Address, st.ContactEmail = "Calle Mayor 1, Madrid", "desk@acme.example"
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		start := domain.DateOf(time.Now()).AddDays(3).At(10*60, s.Location())
		var err error
		if _, token, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[0], Start: start,
			Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}}); err != nil {
			t.Fatal(err)
		}
	})
	status, body, hdr := send(t, browser(t), "GET", srv.URL+"/acme/booking/"+string(token)+"/booking.ics?lang=de", "", nil)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/calendar") {
		t.Fatalf("download: %d %s", status, hdr.Get("Content-Type"))
	}
	unfolded := strings.ReplaceAll(body, "\r\n ", "")
	for _, want := range []string{
		"SUMMARY:Massage bei Biz acme", "ORGANIZER;CN=Biz acme:mailto:desk@acme.example", "ATTENDEE;CN=Eva;",
		"LOCATION:Calle Mayor 1\\, Madrid", "DESCRIPTION:Massage bei Ana.\\n\\nBuchung ansehen\\, ändern oder stornieren: " + srv.URL + "/acme/booking/" + string(token),
		"BEGIN:VALARM", "TRIGGER:-PT1H",
	} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("calendar lacks %q:\n%s", want, body)
		}
	}
}

// Each language link is the page's own address with ?lang= set, the rest of its query kept
// but a notice (msg), with no query or with one.
func TestLanguageLinks(t *testing.T) {
	srv, _ := site(t)
	for path, want := range map[string]string{
		"/acme":                     `href="/acme?lang=es"`,
		"/acme?lang=de":             `href="/acme?lang=es"`,
		"/acme?msg=deleted&lang=fr": `href="/acme?lang=es"`,
		"/acme?b=2&a=1":             `href="/acme?a=1&amp;b=2&amp;lang=es"`,
	} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s: no link %s in\n%s", path, want, body)
		}
	}
}
