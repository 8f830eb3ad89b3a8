package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// In a real browser, the public pages switch language with the links at their foot and keep
// it from page to page (the lang cookie): the calendar, the details form and a page not found
// in Spanish, German and French, each checked with axe-core and saved as a screenshot
// (public-lang-<lang>-<page>.png).
func TestEndToEndLanguages(t *testing.T) {
	axe := axeScript(t)
	tab := browserTab(t)
	srv, m := site(t)
	openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
	for _, c := range []struct{ lang, month, book string }{
		{"es", "Mes siguiente", "Reservar"},
		{"de", "Nächster Monat", "Buchen"},
		{"fr", "Mois suivant", "Réserver"},
	} {
		do(t, tab, "open the home page in English, then choose "+c.lang,
			chromedp.EmulateViewport(1366, 768),
			chromedp.Navigate(srv.URL+"/acme?lang=en"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="tenant-home"]`)),
			chromedp.Click(chromedp.CSS(`[data-testid="lang-`+c.lang+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="languages"] strong[lang="`+c.lang+`"]`)),
		)
		if got := waitText(t, tab, `[data-testid="book-service"]`, c.book); !strings.Contains(got, c.book) {
			t.Errorf("%s home: book button %q", c.lang, got)
		}
		shot(t, tab, "public-lang-"+c.lang+"-home")
		checkA11y(t, tab, axe, c.lang+" home")
		do(t, tab, c.lang+": open the calendar (the choice kept without ?lang=)",
			chromedp.Click(chromedp.CSS(`[data-testid="book-service"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="calendar"]`)),
		)
		if got := value(t, tab, "html lang", chromedp.Evaluate[string](`document.documentElement.lang`)); got != c.lang {
			t.Errorf("calendar in %s: <html lang=%q>", c.lang, got)
		}
		chooseOpenDay(t, tab, 2)
		shot(t, tab, "public-lang-"+c.lang+"-calendar")
		checkA11y(t, tab, axe, c.lang+" calendar")
		do(t, tab, c.lang+": choose a time",
			chromedp.Click(chromedp.CSS(`[data-testid="slot"] a`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="details-page"]`)),
		)
		shot(t, tab, "public-lang-"+c.lang+"-details")
		checkA11y(t, tab, axe, c.lang+" details")
	}
}
