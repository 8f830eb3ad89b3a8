package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// page GETs (or POSTs) a page and parses it.
func page(t *testing.T, c *http.Client, method, u, body string) (int, *goquery.Document, http.Header) {
	t.Helper()
	h := map[string]string{}
	if method == "POST" {
		h = form
	}
	status, html, header := send(t, c, method, u, body, h)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return status, doc, header
}

func attr(t *testing.T, doc *goquery.Document, sel, name string) string {
	t.Helper()
	v, ok := doc.Find(sel).First().Attr(name)
	if !ok {
		html, _ := doc.Html()
		t.Fatalf("no %s[%s] in %s", sel, name, html)
	}
	return v
}

// withStore runs fn on the domain store of business slug.
func withStore(t *testing.T, m *tenancy.Manager, slug string, fn func(context.Context, *domain.Store)) {
	t.Helper()
	withLease(t, m, slug, func(ctx context.Context, l *tenancy.Lease) {
		fn(ctx, domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now))
	})
}

// withLease runs fn with business slug's open database, behind the server's back.
func withLease(t *testing.T, m *tenancy.Manager, slug string, fn func(context.Context, *tenancy.Lease)) {
	t.Helper()
	ctx := context.Background()
	tn, _, err := m.Resolve(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fn(ctx, l)
}

// openEveryDay gives business slug the named staff, each working from..to (minutes of the day)
// every day, and a one-hour service they all offer; it returns the service and staff ids.
func openEveryDay(t *testing.T, m *tenancy.Manager, slug string, from, to int, names ...string) (svc int64, staff []int64) {
	t.Helper()
	var h domain.WeeklyHours
	for d := range h {
		h[d] = []domain.Interval{{Start: from, End: to}}
	}
	withStore(t, m, slug, func(ctx context.Context, s *domain.Store) {
		for _, name := range names {
			id, err := s.CreateStaff(ctx, domain.Staff{Name: name, Hours: h})
			if err != nil {
				t.Fatal(err)
			}
			staff = append(staff, id)
		}
		var err error
		if svc, err = s.CreateService(ctx, domain.Service{Name: "Massage", Duration: time.Hour, Capacity: 1,
			Price: domain.Money{Amount: 4500, Currency: "EUR"}, StaffIDs: staff}); err != nil {
			t.Fatal(err)
		}
	})
	return svc, staff
}

// The whole public flow without JavaScript: service → staff → day → time → details → the
// booking's page; a taken time sends the customer back to fresh times; reschedule and cancel
// through the private link.
func TestBookingFlow(t *testing.T) {
	srv, m := site(t)
	openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
	c := browser(t)

	var book, action, manage string
	var fields url.Values
	if !t.Run("ChooseTime", func(t *testing.T) {
		_, doc, _ := page(t, c, "GET", srv.URL+"/acme", "")
		book = attr(t, doc, `[data-testid="book-service"]`, "href")
		_, doc, _ = page(t, c, "GET", srv.URL+book, "")
		if got := doc.Find(`[data-testid="staff-choice"]`).Text(); !strings.Contains(got, "Anyone") || !strings.Contains(got, "Ben") {
			t.Errorf("staff choice: %q", got)
		}
		// A month calendar: every day of the month, in weeks of seven.
		if n, weeks := doc.Find(`[data-testid="day"]`).Length(), doc.Find(`[data-testid="calendar"] tbody tr`).Length(); n < 28 || n > 31 ||
			doc.Find(`[data-testid="calendar"] tbody td`).Length() != 7*weeks {
			t.Errorf("%d days in %d weeks in the month calendar", n, weeks)
		}
		// Pick Ben, then the third open day (past the 2-hour notice whatever the time now), next
		// month's when this one has fewer left.
		_, doc, _ = page(t, c, "GET", srv.URL+doc.Find(`[data-testid="staff-choice"] a:contains("Ben")`).AttrOr("href", ""), "")
		if doc.Find(`[data-testid="day"][data-status="OPEN"] a`).Length() < 3 {
			_, doc, _ = page(t, c, "GET", srv.URL+attr(t, doc, `[data-testid="next-month"]`, "href"), "")
		}
		day := doc.Find(`[data-testid="day"][data-status="OPEN"] a`).Eq(2)
		_, doc, _ = page(t, c, "GET", srv.URL+day.AttrOr("href", ""), "")
		slots := doc.Find(`[data-testid="slot"] a`)
		if slots.Length() != 9 || strings.TrimSpace(slots.First().Text()) != "09:00" || !strings.Contains(day.AttrOr("href", ""), "staff=") {
			t.Fatalf("%d slots, first %q; want 9 from 09:00", slots.Length(), slots.First().Text())
		}
		details := srv.URL + slots.Eq(1).AttrOr("href", "")
		_, doc, _ = page(t, c, "GET", details, "")
		if !strings.Contains(doc.Find(`[data-testid="when"]`).Text(), "09:15–10:15 (Europe/Madrid time)") {
			t.Errorf("details: %q", doc.Find(`[data-testid="when"]`).Text())
		}
		// Before booking, the customer learns until when they can change it online (the default
		// cutoff is 24 hours), or that they cannot at all.
		if got := doc.Find(`[data-testid="details-cutoff"]`).Text(); !strings.Contains(got, "change or cancel it online until") || !strings.Contains(got, " 09:15.") {
			t.Errorf("cutoff before booking: %q", got)
		}
		soon := time.Now().Add(3 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
		_, soonDoc, _ := page(t, c, "GET", srv.URL+slots.Eq(1).AttrOr("href", "")[:strings.Index(slots.Eq(1).AttrOr("href", ""), "?")]+"?"+url.Values{"start": {soon}}.Encode(), "")
		if got := soonDoc.Find(`[data-testid="details-cutoff"]`).Text(); !strings.Contains(got, "less than 1 day away") {
			t.Errorf("cutoff before booking a time inside it: %q", got)
		}
		fields = url.Values{
			"start": {attr(t, doc, `input[name="start"]`, "value")}, "staff": {attr(t, doc, `input[name="staff"]`, "value")},
			"key": {attr(t, doc, `input[name="key"]`, "value")}, "name": {"Eva"}, "email": {"not-an-email"},
		}
		action = srv.URL + attr(t, doc, "form", "action")
	}) {
		return
	}

	t.Run("ErrBadEmailKeepsInput", func(t *testing.T) {
		status, doc, _ := page(t, c, "POST", action, fields.Encode())
		if status != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="error-email"]`).Text(), "does not look like an email address") ||
			attr(t, doc, `input[name="name"]`, "value") != "Eva" {
			t.Errorf("bad email: %d %q", status, doc.Find(`[data-testid="error-email"]`).Text())
		}
	})

	if !t.Run("Book", func(t *testing.T) {
		fields.Set("email", "eva@example.com")
		status, _, hdr := page(t, c, "POST", action, fields.Encode())
		manage = hdr.Get("Location")
		if status != http.StatusSeeOther || !strings.HasPrefix(manage, "/acme/booking/") {
			t.Fatalf("book: %d %s", status, manage)
		}
		_, doc, _ := page(t, c, "GET", srv.URL+manage, "")
		if doc.Find(`[data-testid="confirmation"]`).Length() != 1 || !strings.Contains(doc.Find(`[data-testid="booking-when"]`).Text(), "09:15–10:15") ||
			!strings.Contains(doc.Text(), "WithBen") {
			t.Errorf("manage page: %s", doc.Find("main").Text())
		}
	}) {
		return
	}

	t.Run("SlotTakenMeanwhile", func(t *testing.T) {
		// The details stay; the same staff member's other times that day are offered in the form.
		other := url.Values{"start": fields["start"], "staff": fields["staff"], "key": {"another-key"}, "name": {"Tom"}, "email": {"tom@example.com"}, "notes": {"window seat"}}
		status, doc, _ := page(t, c, "POST", action, other.Encode())
		choices := doc.Find(`[data-testid="choices"] input[name="start"]`)
		if status != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "just taken") ||
			attr(t, doc, `input[name="name"]`, "value") != "Tom" || attr(t, doc, `input[name="email"]`, "value") != "tom@example.com" ||
			doc.Find("textarea#notes").Text() != "window seat" || attr(t, doc, `input[name="staff"]`, "value") != fields.Get("staff") || choices.Length() == 0 {
			t.Fatalf("taken slot: %d %s", status, doc.Find("main").Text())
		}
		choices.Each(func(_ int, in *goquery.Selection) {
			if v, _ := in.Attr("value"); v == fields.Get("start") {
				t.Errorf("the taken time %s is offered again", v)
			}
		})
		other.Set("start", choices.First().AttrOr("value", ""))
		if status, _, hdr := page(t, c, "POST", action, other.Encode()); status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/acme/booking/") {
			t.Errorf("booking the offered time: %d %s", status, hdr.Get("Location"))
		}
		// Back to that page, another time picked: the form's key booked the first one, so the
		// form comes back with a new key, with which the request is taken as new (here to find
		// that time overlaps the booking just made).
		other.Set("start", choices.Last().AttrOr("value", ""))
		status, doc, _ = page(t, c, "POST", action, other.Encode())
		key := attr(t, doc, `input[name="key"]`, "value")
		if status != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "already used") || key == "" || key == other.Get("key") {
			t.Fatalf("a used form for another time: %d %q key %q", status, doc.Find(`[data-testid="message"]`).Text(), key)
		}
		other.Set("key", key)
		if status, doc, _ := page(t, c, "POST", action, other.Encode()); status != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "just taken") {
			t.Errorf("the form with its new key: %d %s", status, doc.Find(`[data-testid="message"]`).Text())
		}
	})
	t.Run("TimePassed", func(t *testing.T) {
		past := time.Now().Add(-24 * time.Hour).Truncate(time.Hour).Format(time.RFC3339)
		status, _, hdr := page(t, c, "GET", action+"/details?"+url.Values{"start": {past}, "staff": fields["staff"]}.Encode(), "")
		if status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "msg=passed") {
			t.Errorf("details for a past time: %d %s", status, hdr.Get("Location"))
		}
		late := url.Values{"start": {past}, "staff": fields["staff"], "key": {"late-key"}, "name": {"Ada"}, "email": {"ada@example.com"}}
		status, doc, _ := page(t, c, "POST", action, late.Encode())
		if status != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "has passed") ||
			attr(t, doc, `input[name="name"]`, "value") != "Ada" || doc.Find(`[data-testid="other-days"]`).Length() != 1 ||
			doc.Find(`[data-testid="book"]`).Length() != 0 {
			t.Errorf("booking a past time: %d %s", status, doc.Find("main").Text())
		}
	})
	t.Run("Calendar", func(t *testing.T) {
		res, err := c.Get(srv.URL + manage[:strings.Index(manage, "?")] + "/booking.ics")
		if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
			t.Errorf("ics: %v %v", res, err)
		}
		_ = res.Body.Close()
	})

	base := manage[:strings.Index(manage, "?")]
	t.Run("Reschedule", func(t *testing.T) {
		_, doc, _ := page(t, c, "GET", srv.URL+base+"/reschedule", "")
		_, doc, _ = page(t, c, "GET", srv.URL+doc.Find(`[data-testid="day"][data-status="OPEN"] a`).Eq(3).AttrOr("href", ""), "")
		slotForm := doc.Find(`[data-testid="slot"] form`).Eq(2)
		move := url.Values{"start": {slotForm.Find(`input[name="start"]`).AttrOr("value", "")}, "staff": {slotForm.Find(`input[name="staff"]`).AttrOr("value", "")}}
		status, _, hdr := page(t, c, "POST", srv.URL+slotForm.AttrOr("action", ""), move.Encode())
		if status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "moved") {
			t.Fatalf("reschedule: %d %s", status, hdr.Get("Location"))
		}
		_, doc, _ = page(t, c, "GET", srv.URL+hdr.Get("Location"), "")
		if !strings.Contains(doc.Find(`[data-testid="booking-when"]`).Text(), "09:30–10:30") {
			t.Errorf("after the move: %q", doc.Find(`[data-testid="booking-when"]`).Text())
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		status, _, hdr := page(t, c, "POST", srv.URL+base+"/cancel", url.Values{"reason": {"ill"}}.Encode())
		_, doc, _ := page(t, c, "GET", srv.URL+hdr.Get("Location"), "")
		if status != http.StatusSeeOther || doc.Find(`[data-testid="booking-status"]`).Text() != "cancelled" || doc.Find(`[data-testid="cancel"]`).Length() != 0 {
			t.Errorf("cancel: %d %q", status, doc.Find(`[data-testid="booking-status"]`).Text())
		}
		// A cancelled booking is not offered new days or times, however its links are reached.
		for _, step := range []string{"/reschedule", "/reschedule/slots?date=" + time.Now().AddDate(0, 0, 3).Format(time.DateOnly)} {
			if status, _, hdr := page(t, c, "GET", srv.URL+base+step, ""); status != http.StatusSeeOther || hdr.Get("Location") != base+"?msg=closed" {
				t.Errorf("GET %s of a cancelled booking: %d %s", step, status, hdr.Get("Location"))
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, bad := range []string{"/acme/booking/not-a-token", "/acme/book/999", "/acme/book/abc"} {
			if status, _, _ := page(t, c, "GET", srv.URL+bad, ""); status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", bad, status)
			}
		}
		if status, _, _ := page(t, c, "GET", srv.URL+book+"/slots?date=garbage", ""); status != http.StatusBadRequest {
			t.Errorf("bad date: %d, want 400", status)
		}
	})
}

// Odd input never gives a server error, and links cannot put their own words on the pages.
func TestBookingOddInput(t *testing.T) {
	srv, m := site(t)
	svc, _ := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana")
	c := browser(t)
	base := fmt.Sprintf("/acme/book/%d", svc)
	start := time.Now().AddDate(0, 0, 3).Truncate(24 * time.Hour).Add(9 * time.Hour).Format(time.RFC3339)
	post := url.Values{"start": {start}, "staff": {"999"}, "key": {"k"}, "name": {"Eva"}, "email": {"eva@example.com"}}
	status, _, hdr := page(t, c, "POST", srv.URL+base, post.Encode())
	if status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "msg=unavailable") {
		t.Errorf("unknown staff: %d %s", status, hdr.Get("Location"))
	}
	_, doc, _ := page(t, c, "GET", srv.URL+base+"?msg="+url.QueryEscape("Pay a deposit at evil.example"), "")
	if strings.Contains(doc.Text(), "evil.example") {
		t.Error("a link put its own words on the page")
	}
	for _, q := range []string{"?from=9999-99-99", "?staff=-1", "?from=1900-01-01"} {
		if status, _, _ := page(t, c, "GET", srv.URL+base+q, ""); status >= 500 {
			t.Errorf("GET %s%s: %d", base, q, status)
		}
	}
}

// Inside the cancellation cutoff the booking page says so instead of offering the forms.
func TestManagePageInsideCutoff(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 0, 24*60, "Ana")
	var token domain.ManageToken
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, _ := s.Settings(ctx)
		st.ContactPhone = "+34 910 000 000"
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		// Staff book for in three hours: inside the default 24-hour cutoff.
		start := time.Now().Add(3 * time.Hour).Truncate(time.Hour)
		var err error
		_, token, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[0], Start: start, OnBehalf: true,
			Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
	})
	_, doc, _ := page(t, browser(t), "GET", srv.URL+"/acme/booking/"+string(token), "")
	if got := doc.Find(`[data-testid="cutoff"]`).Text(); !strings.Contains(got, "too late") || !strings.Contains(got, "+34 910 000 000") {
		t.Errorf("cutoff message: %q", got)
	}
	if doc.Find(`[data-testid="cancel"]`).Length() != 0 || doc.Find(`[data-testid="reschedule"]`).Length() != 0 {
		t.Error("change forms offered inside the cutoff")
	}
	if status, _, hdr := page(t, browser(t), "GET", srv.URL+"/acme/booking/"+string(token)+"/reschedule", ""); status != http.StatusSeeOther || !strings.HasSuffix(hdr.Get("Location"), "?msg=toolate") {
		t.Errorf("rescheduling inside the cutoff: %d %s", status, hdr.Get("Location"))
	}
}

// "Anyone": the time is booked with whoever is free when the customer books, not only the
// staff member listed for it a while ago; and when nobody is free then, the times offered
// instead are every staff member's.
func TestBookingAnyone(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
	ana, ben := staff[0], staff[1]
	c := browser(t)
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	base := fmt.Sprintf("/acme/book/%d", svc)

	// The customer lists the day's times for anyone and opens the forms of 10:00 and 11:00.
	_, doc, _ := page(t, c, "GET", srv.URL+base+"/slots?date="+day.String(), "")
	form := func(label, email string) (url.Values, string) {
		t.Helper()
		href, ok := doc.Find(fmt.Sprintf(`[data-testid="slot"] a:contains(%q)`, label)).Attr("href")
		if !ok {
			t.Fatalf("no %s slot", label)
		}
		_, details, _ := page(t, c, "GET", srv.URL+href, "")
		return url.Values{"start": {attr(t, details, `input[name="start"]`, "value")}, "staff": {attr(t, details, `input[name="staff"]`, "value")},
			"key": {attr(t, details, `input[name="key"]`, "value")}, "name": {"Eva"}, "email": {email}}, srv.URL + attr(t, details, "form", "action")
	}
	ten, action := form("10:00", "eva@example.com")
	eleven, _ := form("11:00", "tom@example.com")
	take := func(staffID int64, hhmm ...string) {
		t.Helper()
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			for i, h := range hhmm {
				minute, _ := domain.ParseClock(h)
				start := day.At(minute, loc)
				if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staffID, Start: start,
					Customer: domain.Customer{Name: "Other", Email: fmt.Sprintf("other%d-%d@example.com", staffID, i)}}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	bookedWith := func(location string) string {
		t.Helper()
		_, doc, _ := page(t, c, "GET", srv.URL+location, "")
		return doc.Find("main").Text()
	}

	// Meanwhile Ana's whole day is taken: 10:00 is booked with Ben.
	take(ana, "09:00", "10:00", "11:00")
	status, _, hdr := page(t, c, "POST", action, ten.Encode())
	if status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/acme/booking/") {
		t.Fatalf("booking 10:00 with anyone once Ana is taken: %d %s", status, hdr.Get("Location"))
	}
	if text := bookedWith(hdr.Get("Location")); !strings.Contains(text, "WithBen") {
		t.Errorf("booked: %s", text)
	}

	// Then Ben's 11:00 goes too: nobody is free at 11:00, and the times offered are those of
	// anyone, here Ben's 09:00 (Ana has none left).
	take(ben, "11:00")
	status, doc, _ = page(t, c, "POST", action, eleven.Encode())
	var choices []string
	doc.Find(`[data-testid="choices"] label`).Each(func(_ int, l *goquery.Selection) { choices = append(choices, strings.TrimSpace(l.Text())) })
	if status != http.StatusConflict || fmt.Sprint(choices) != "[09:00]" {
		t.Fatalf("11:00 taken by everyone: %d, choices %v, want [09:00]: %s", status, choices, doc.Find("main").Text())
	}
	eleven.Set("start", doc.Find(`[data-testid="choices"] input[name="start"]`).AttrOr("value", ""))
	eleven.Set("staff", attr(t, doc, `input[name="staff"]`, "value"))
	status, _, hdr = page(t, c, "POST", action, eleven.Encode())
	if status != http.StatusSeeOther || !strings.Contains(bookedWith(hdr.Get("Location")), "WithBen") {
		t.Errorf("booking the offered 09:00: %d %s", status, hdr.Get("Location"))
	}
}

// A reschedule to a time taken meanwhile goes back to that day's times with the staff member
// the customer chose, not everyone's; the way back to other days stays with them too.
func TestRescheduleTakenKeepsStaff(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
	ben := strconv.FormatInt(staff[1], 10)
	c := browser(t)
	loc, _ := time.LoadLocation("Europe/Madrid")
	day := domain.DateOf(time.Now().In(loc)).AddDays(3)
	book := func(hhmm string, email string) domain.ManageToken {
		t.Helper()
		minute, _ := domain.ParseClock(hhmm)
		var token domain.ManageToken
		withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
			var err error
			if _, token, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[1], Start: day.At(minute, loc),
				Customer: domain.Customer{Name: "Eva", Email: email}}); err != nil {
				t.Fatal(err)
			}
		})
		return token
	}
	manage := "/acme/booking/" + string(book("09:00", "eva@example.com"))

	_, doc, _ := page(t, c, "GET", srv.URL+manage+"/reschedule/slots?"+url.Values{"date": {day.String()}, "staff": {ben}}.Encode(), "")
	form := doc.Find(`[data-testid="slot"] form:has(button:contains("11:00"))`)
	if form.Length() != 1 || form.Find(`input[name="staff"]`).AttrOr("value", "") != ben {
		t.Fatalf("Ben's 11:00: %s", doc.Find("main").Text())
	}
	if back := attr(t, doc, `a:contains("Other days")`, "href"); !strings.Contains(back, "staff="+ben) {
		t.Errorf("the way back to other days leaves Ben: %s", back)
	}
	book("11:00", "tom@example.com") // meanwhile
	move := url.Values{"start": {form.Find(`input[name="start"]`).AttrOr("value", "")}, "staff": {ben}}
	status, _, hdr := page(t, c, "POST", srv.URL+form.AttrOr("action", ""), move.Encode())
	loc2, _ := url.Parse(hdr.Get("Location"))
	if status != http.StatusSeeOther || loc2.Path != manage+"/reschedule/slots" || loc2.Query().Get("staff") != ben || loc2.Query().Get("date") != day.String() {
		t.Fatalf("moving to a time taken meanwhile: %d %s; want that day's times with Ben (staff=%s)", status, hdr.Get("Location"), ben)
	}
	_, doc, _ = page(t, c, "GET", srv.URL+hdr.Get("Location"), "")
	var offered []string
	doc.Find(`[data-testid="slot"] form`).Each(func(_ int, f *goquery.Selection) {
		offered = append(offered, f.Find(`[data-testid="slot-time"]`).Text()+"/"+f.Find(`input[name="staff"]`).AttrOr("value", ""))
	})
	// Ben is taken from 11:00; 09:00-10:00 holds only the booking being moved, which frees it:
	// 09:00 to 10:00 fit an hour. Everyone's would offer Ana's 10:15 onwards too.
	want := fmt.Sprint([]string{"09:00/" + ben, "09:15/" + ben, "09:30/" + ben, "09:45/" + ben, "10:00/" + ben})
	if !strings.Contains(doc.Find(`[data-testid="message"]`).Text(), "taken") || fmt.Sprint(offered) != want {
		t.Errorf("times offered: %v, message %q; want %s", offered, doc.Find(`[data-testid="message"]`).Text(), want)
	}
}
