package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
)

// The month calendar says what each day is: free times (a link), fully booked, closed (nobody
// works), or, past the booking horizon, not open yet (never "closed").
func TestMonthCalendarDayStates(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 11*60, "Ana")
	var today domain.Date
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, err := s.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Horizon = 5 * 24 * time.Hour
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		// Day 2 is closed (an override with no hours), day 3 fully booked.
		today = domain.DateOf(time.Now().In(s.Location()))
		if err := s.SetDateOverride(ctx, domain.DateOverride{StaffID: staff[0], Date: today.AddDays(2)}); err != nil {
			t.Fatal(err)
		}
		for _, hhmm := range []int{9 * 60, 10 * 60} {
			if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, Start: today.AddDays(3).At(hhmm, s.Location()),
				Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}}); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := browser(t)
	month := func(d domain.Date) string { return d.String()[:7] }
	get := func(d domain.Date) *goquery.Selection {
		_, doc, _ := page(t, c, "GET", srv.URL+"/acme/book/"+strconv.FormatInt(svc, 10)+"?month="+month(d), "")
		return doc.Find(`[data-testid="day"][data-date="` + d.String() + `"]`)
	}
	for _, tc := range []struct {
		day    domain.Date
		status string
		words  string
		link   bool
	}{
		{today.AddDays(1), "OPEN", "free times", true},
		{today.AddDays(2), "CLOSED", "closed", false},
		{today.AddDays(3), "FULL", "fully booked", false},
		{today.AddDays(7), "LATER", "not open yet", false},
	} {
		cell := get(tc.day)
		if got := cell.AttrOr("data-status", ""); got != tc.status || !strings.Contains(cell.Text(), tc.words) || (cell.Find("a").Length() == 1) != tc.link {
			t.Errorf("%s: %s %q, want %s %q (a link: %v)", tc.day, got, cell.Text(), tc.status, tc.words, tc.link)
		}
	}
}

// detailsForm opens the details form of business acme's first free time the day after
// tomorrow (with Ana), and returns the form's action and its fields.
func detailsForm(t *testing.T, c *http.Client, srv string, svc int64) (string, url.Values) {
	t.Helper()
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(2)
	_, doc, _ := page(t, c, "GET", srv+"/acme/book/"+strconv.FormatInt(svc, 10)+"?date="+day.String(), "")
	href := attr(t, doc, `[data-testid="slot"] a`, "href")
	_, doc, _ = page(t, c, "GET", srv+href, "")
	return srv + attr(t, doc, "form", "action"), url.Values{"start": {attr(t, doc, `input[name="start"]`, "value")},
		"staff": {attr(t, doc, `input[name="staff"]`, "value")}, "key": {attr(t, doc, `input[name="key"]`, "value")}}
}

// The details page says who, how long, how much and the cancellation rule before booking; a
// form with several problems gets them all at once, each tied to its field, the first focused,
// in plain words.
func TestDetailsShowsFactsAndEveryError(t *testing.T) {
	srv, m := site(t)
	svc, _ := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	c := browser(t)
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(2)
	_, doc, _ := page(t, c, "GET", srv.URL+"/acme/book/"+strconv.FormatInt(svc, 10)+"/details?"+url.Values{"start": {day.At(9*60, loc).Format(time.RFC3339)}}.Encode(), "")
	for sel, want := range map[string]string{
		`[data-testid="details-staff"]`: "Whoever is free", `[data-testid="details-duration"]`: "1 h",
		`[data-testid="details-price"]`: "45.00", `[data-testid="details-cutoff"]`: "change or cancel it online until",
	} {
		if got := text(doc, sel); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	for id, max := range map[string]int{"name": domain.MaxNameLen, "email": domain.MaxEmailLen, "phone": domain.MaxPhoneLen, "notes": domain.MaxNotesLen} {
		if got := attr(t, doc, "#"+id, "maxlength"); got != strconv.Itoa(max) {
			t.Errorf("#%s maxlength %s, want %d", id, got, max)
		}
	}

	action, fields := detailsForm(t, c, srv.URL, svc)
	fields.Set("name", " ")
	fields.Set("email", "eva-at-example")
	fields.Set("phone", strings.Repeat("6", domain.MaxPhoneLen+1))
	status, doc, _ := page(t, c, "POST", action, fields.Encode())
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("bad details: %d", status)
	}
	for _, id := range []string{"name", "email", "phone"} {
		in := doc.Find("#" + id)
		msg := doc.Find("#" + in.AttrOr("aria-describedby", "none"))
		if in.AttrOr("aria-invalid", "") != "true" || strings.TrimSpace(msg.Text()) == "" {
			t.Errorf("#%s: aria-invalid %q, described by %q", id, in.AttrOr("aria-invalid", ""), msg.Text())
		}
		if strings.Contains(msg.Text(), `"`) || strings.Contains(msg.Text(), "customer.") {
			t.Errorf("#%s: message not in plain words: %q", id, msg.Text())
		}
	}
	if _, ok := doc.Find("#name").Attr("autofocus"); !ok || doc.Find("[autofocus]").Length() != 1 {
		t.Errorf("the focus is not on the first field in error")
	}
	if n := doc.Find(`[data-testid="error-summary"] li`).Length(); n != 3 {
		t.Errorf("%d problems in the summary, want 3", n)
	}
	if doc.Find("#notes").AttrOr("aria-invalid", "") != "" || attr(t, doc, "#email", "value") != "eva-at-example" {
		t.Errorf("notes marked invalid, or the email typed was lost")
	}
}

// The visitor's time zone: ?tz= shows times in it, the business's beside them, and a cookie
// keeps it for the next pages; a zone not on the list is ignored.
func TestTimeZoneSwitch(t *testing.T) {
	srv, m := site(t)
	svc, _ := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	c := browser(t)
	loc, _ := time.LoadLocation("Europe/Madrid")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	day := domain.DateOf(time.Now().In(loc)).AddDays(2)
	base := srv.URL + "/acme/book/" + strconv.FormatInt(svc, 10) + "?date=" + day.String()
	first := func(doc *goquery.Document) (string, string) {
		return text(doc, `[data-testid="slot"] [data-testid="slot-time"]`), text(doc, `[data-testid="slot"] [data-testid="slot-business-time"]`)
	}
	_, doc, _ := page(t, c, "GET", base, "")
	if local, biz := first(doc); !strings.HasPrefix(local, "09:00") || biz != "" {
		t.Errorf("in the business's zone: %q / %q", local, biz)
	}
	_, doc, hdr := page(t, c, "GET", base+"&tz=Asia/Tokyo", "")
	want := day.At(9*60, loc).In(tokyo).Format("15:04")
	if local, biz := first(doc); !strings.HasPrefix(local, want) || !strings.HasPrefix(biz, "09:00") {
		t.Errorf("in Tokyo: %q / %q, want %s / 09:00", local, biz, want)
	}
	if !strings.Contains(hdr.Get("Set-Cookie"), "tz=Asia/Tokyo") || !strings.Contains(text(doc, `[data-testid="zone-note"]`), "Asia/Tokyo") {
		t.Errorf("cookie %q, note %q", hdr.Get("Set-Cookie"), text(doc, `[data-testid="zone-note"]`))
	}
	if got := doc.Find(`[data-testid="tz-select"] option[selected]`).AttrOr("value", ""); got != "Asia/Tokyo" {
		t.Errorf("the picker shows %q", got)
	}
	// The cookie carries it to the details page.
	href := attr(t, doc, `[data-testid="slot"] a`, "href")
	_, doc, _ = page(t, c, "GET", srv.URL+href+"&tz=Asia/Tokyo", "")
	if got := text(doc, `[data-testid="local-when"]`); !strings.Contains(got, want) || !strings.Contains(got, "Asia/Tokyo") {
		t.Errorf("details in Tokyo: %q", got)
	}
	_, doc, hdr = page(t, browser(t), "GET", base+"&tz=Mars/Olympus", "") // a new visitor, no cookie
	if local, _ := first(doc); !strings.HasPrefix(local, "09:00") || strings.Contains(hdr.Get("Set-Cookie"), "Mars") {
		t.Errorf("an unknown zone: %q, cookie %q", local, hdr.Get("Set-Cookie"))
	}
}

// The confirmation says the booking is made, what it costs, and adds it to Google Calendar and
// Outlook; cancelling asks first.
func TestConfirmationAndCancelConfirm(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	b, token := bookAhead(t, m, "acme", svc, staff[0], "eva@example.com")
	c := browser(t)
	manage := srv.URL + "/acme/booking/" + string(token)
	_, doc, _ := page(t, c, "GET", manage+"?new=1", "")
	if got := doc.Find(`[data-testid="confirmation"]`).AttrOr("data-state", ""); got != "confirmed" ||
		!strings.Contains(text(doc, `[data-testid="emailed"]`), "eva@example.com") || !strings.Contains(text(doc, `[data-testid="booking-price"]`), "45.00") {
		t.Errorf("confirmation: %s", text(doc, "main"))
	}
	g, err := url.Parse(attr(t, doc, `[data-testid="google-calendar"]`, "href"))
	if err != nil {
		t.Fatal(err)
	}
	const compact = "20060102T150405Z"
	if want := b.Start.UTC().Format(compact) + "/" + b.End.UTC().Format(compact); g.Host != "calendar.google.com" || g.Query().Get("dates") != want ||
		!strings.Contains(g.Query().Get("details"), "/acme/booking/"+string(token)) {
		t.Errorf("Google Calendar link %s, want dates %s", g, want)
	}
	o, err := url.Parse(attr(t, doc, `[data-testid="outlook-calendar"]`, "href"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Host != "outlook.live.com" || o.Query().Get("startdt") != b.Start.UTC().Format(time.RFC3339) || !strings.Contains(o.Query().Get("subject"), "Massage") {
		t.Errorf("Outlook link %s", o)
	}
	if attr(t, doc, `[data-testid="ics"]`, "href") != "/acme/booking/"+string(token)+"/booking.ics" {
		t.Errorf("no .ics link")
	}

	// Cancel: a page that asks, then its form.
	status, doc, _ := page(t, c, "GET", srv.URL+attr(t, doc, `[data-testid="cancel-start"]`, "href"), "")
	if status != http.StatusOK || doc.Find(`[data-testid="cancel-page"] form[method="post"] [data-testid="cancel"]`).Length() != 1 {
		t.Fatalf("cancel page: %d %s", status, text(doc, "main"))
	}
	_, doc, _ = page(t, c, "GET", manage, "")
	if text(doc, `[data-testid="booking-status"]`) != "confirmed" {
		t.Errorf("opening the cancel page cancelled the booking: %s", text(doc, `[data-testid="booking-status"]`))
	}
}

// A page not found under a business leads back to it; the favicon is served.
func TestNotFoundLinksBackAndFavicon(t *testing.T) {
	srv, _ := site(t)
	c := browser(t)
	status, doc, _ := page(t, c, "GET", srv.URL+"/acme/no-such-page", "")
	if status != http.StatusNotFound || attr(t, doc, `[data-testid="business-home"]`, "href") != "/acme" {
		t.Errorf("404 under a business: %d %s", status, text(doc, "main"))
	}
	_, doc, _ = page(t, c, "GET", srv.URL+"/acme", "")
	icon := attr(t, doc, `link[rel="icon"]`, "href")
	status, body, hdr := send(t, c, "GET", srv.URL+icon, "", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") {
		t.Errorf("favicon: %d %s", status, hdr.Get("Content-Type"))
	}
}
