package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
)

// englishLeft finds, in a page meant to be in lang, the texts of the English catalog that
// lang's catalog says differently: each literal piece of an English message (template fields
// cut out) of four characters or more, matched as whole words. A piece that lang's own
// translation contains too ("Status" in German) is not a sign of anything.
type englishLeft struct{ pieces []*regexp.Regexp }

func newEnglishLeft(t *testing.T, lang string) englishLeft {
	t.Helper()
	en, err := i18n.Catalog("en")
	if err != nil {
		t.Fatal(err)
	}
	other, err := i18n.Catalog(lang)
	if err != nil {
		t.Fatal(err)
	}
	fields := regexp.MustCompile(`\{\{[^}]*\}\}|\|`)
	word := func(s string) *regexp.Regexp {
		return regexp.MustCompile(`(^|[^\p{L}\p{N}])` + regexp.QuoteMeta(s) + `($|[^\p{L}\p{N}])`)
	}
	seen := map[string]bool{}
	var e englishLeft
	for id, text := range en {
		for _, piece := range fields.Split(text, -1) {
			piece = strings.Trim(piece, " ,.:;()–·?!\n")
			if len([]rune(piece)) < 4 || seen[piece] {
				continue
			}
			re := word(piece)
			if re.MatchString(other[id]) {
				continue
			}
			seen[piece] = true
			e.pieces = append(e.pieces, re)
		}
	}
	// Words no page in another language should hold, whatever the catalog says: they catch
	// English written straight into a template.
	for _, w := range []string{"the", "your", "Your", "and", "Please", "with", "With", "Choose", "Book", "booking"} {
		e.pieces = append(e.pieces, word(w))
	}
	return e
}

// in returns the English pieces found in text.
func (e englishLeft) in(text string) []string {
	var found []string
	for _, re := range e.pieces {
		if m := re.FindString(text); m != "" {
			found = append(found, strings.TrimSpace(m))
		}
	}
	return found
}

// visible is what a page says to a person: its text, title, and the attributes read aloud or
// shown (labels, titles, alternative texts, placeholders).
func visible(doc *goquery.Document) string {
	var b strings.Builder
	b.WriteString(doc.Find("title").Text() + "\n")
	doc.Find("body").Each(func(_ int, s *goquery.Selection) { b.WriteString(s.Text() + "\n") })
	doc.Find("[aria-label], [title], [alt], [placeholder]").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"aria-label", "title", "alt", "placeholder"} {
			if v, ok := s.Attr(a); ok {
				b.WriteString(v + "\n")
			}
		}
	})
	return b.String()
}

// Every public page (the business's home, the month calendar with a day's times, a day's times
// alone, the details form and its errors, the booking's page, its cancel and reschedule pages,
// a page not found, an address that is no business, sign-up and its errors, the platform's home) renders in Spanish, German and
// French, chosen by Accept-Language and by ?lang=, with none of the English catalog's texts and
// dates and prices in the language's own form; every catalog has every message
// (TestCatalogsComplete in internal/i18n).
func TestPublicPagesTranslated(t *testing.T) {
	srv, m := site(t)
	svc, staff := openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
	var token domain.ManageToken
	var start time.Time
	withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
		st, err := s.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Address, st.ContactPhone, st.ContactEmail = "Calle Mayor 1", "+34 600 111 222", "desk@acme.example"
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		// The 15th of next month: past any notice, inside the horizon, in the month calendar
		// that ?date= shows.
		now := time.Now().In(s.Location())
		day := domain.Date{Year: now.Year(), Month: now.Month() + 1, Day: 15}
		if now.Month() == time.December {
			day = domain.Date{Year: now.Year() + 1, Month: time.January, Day: 15}
		}
		start = day.At(10*60, s.Location())
		if _, token, err = s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: staff[0], Start: start,
			Customer: domain.Customer{Name: "Eva", Email: "eva@example.com"}}); err != nil {
			t.Fatal(err)
		}
	})
	book := "/acme/book/" + strconv.FormatInt(svc, 10)
	date := start.Format("2006-01-02")
	next := start.Add(time.Hour).Format(time.RFC3339)
	pages := []struct{ name, method, path, body string }{
		{"home", "GET", "/acme", ""},
		{"calendar", "GET", book + "?date=" + date, ""},
		{"day's times", "GET", book + "/slots?date=" + date, ""},
		{"details", "GET", book + "/details?" + url.Values{"start": {next}}.Encode(), ""},
		{"details with errors", "POST", book, url.Values{"start": {next}, "key": {"k1"}, "name": {""}, "email": {"nope"}}.Encode()},
		{"booking", "GET", "/acme/booking/" + string(token) + "?new=1", ""},
		{"cancel", "GET", "/acme/booking/" + string(token) + "/cancel", ""},
		{"reschedule", "GET", "/acme/booking/" + string(token) + "/reschedule?date=" + date, ""},
		{"not found", "GET", "/acme/no-such-page", ""},
		{"no such business", "GET", "/no-such-business", ""},
		{"sign-up", "GET", "/signup", ""},
		{"sign-up with errors", "POST", "/signup", url.Values{"name": {""}, "slug": {"x"}, "timezone": {"Mars/Olympus"}, "email": {"nope"}, "password": {"short"}}.Encode()},
		{"platform", "GET", "/", ""},
	}
	// What each language shows for the booking's date and the service's price.
	want := map[string][]string{
		"es": {i18n.For("es").LongDate(start), "45,00\u00a0€"},
		"de": {i18n.For("de").LongDate(start), "45,00\u00a0€"},
		"fr": {i18n.For("fr").LongDate(start), "45,00\u00a0€"},
	}
	for _, lang := range []string{"es", "de", "fr"} {
		english := newEnglishLeft(t, lang)
		for _, p := range pages {
			for _, how := range []string{"Accept-Language", "lang="} {
				path, header := p.path, map[string]string{}
				if p.method == "POST" {
					header = form
				}
				if how == "lang=" {
					sep := "?"
					if strings.Contains(path, "?") {
						sep = "&"
					}
					path += sep + "lang=" + lang
				} else {
					header = map[string]string{"Accept-Language": lang + ";q=0.9, en;q=0.5"}
					if p.method == "POST" {
						header["Content-Type"] = form["Content-Type"]
					}
				}
				status, html, _ := send(t, browser(t), p.method, srv.URL+path, p.body, header)
				if status >= 500 || status == http.StatusSeeOther {
					t.Errorf("%s %s (%s): status %d", lang, p.name, how, status)
					continue
				}
				doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := doc.Find("html").Attr("lang"); got != lang {
					t.Errorf("%s %s (%s): <html lang=%q>", lang, p.name, how, got)
				}
				text := visible(doc)
				if left := english.in(text); len(left) > 0 {
					t.Errorf("%s %s (%s) has English: %q\n%s", lang, p.name, how, left, strings.Join(strings.Fields(text), " "))
				}
				if p.name == "booking" {
					for _, w := range want[lang] {
						if !strings.Contains(text, w) {
							t.Errorf("%s booking page lacks %q", lang, w)
						}
					}
				}
			}
		}
	}
}
