package web_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/reserva/reserva/domain"
)

// axeScript is axe-core (pinned in testdata/axe/package.json, installed by .ci/run with npm
// ci). Without it the accessibility check skips, except in CI, where it fails.
func axeScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core is not installed: .ci/run must run npm ci in web/testdata/axe: %v", err)
		}
		t.Skipf("no axe-core here (cd web/testdata/axe && npm ci): %v", err)
	}
	return string(b)
}

// checkA11y runs axe-core on the tab's page and fails the test on any serious or critical
// violation, naming the rule and the elements.
func checkA11y(t *testing.T, tab context.Context, axe, name string) {
	t.Helper()
	do(t, tab, "inject axe-core into "+name, chromedp.Evaluate[chromedp.Void](axe))
	found := value(t, tab, "run axe on "+name, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))`,
		chromedp.EvalAwaitPromise))
	var violations []map[string]any
	if err := json.Unmarshal([]byte(found), &violations); err != nil {
		t.Fatalf("axe on %s: %v: %s", name, err, found)
	}
	for _, v := range violations {
		t.Errorf("axe on %s: %v (%v): %v at %v", name, v["id"], v["impact"], v["help"], v["nodes"])
	}
}

// inZone makes the browser's own time zone zone (what Intl reports to app.js).
func inZone(zone string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})
}

// A customer books on the public pages at desktop and phone size: the landing page, the month
// calendar, a time, the details (first with mistakes), the confirmation with its calendar
// links, the cancel page and a 404; the time zone follows the browser and the picker. axe-core
// finds nothing serious on any page; each page is saved as a screenshot.
func TestEndToEndPublicPages(t *testing.T) {
	axe := axeScript(t)
	for _, vp := range []struct {
		name          string
		width, height int64
		zone          string // the browser's own
	}{
		{"desktop", 1366, 768, "Europe/Madrid"},
		{"phone", 390, 844, "Asia/Tokyo"},
	} {
		t.Run(vp.name, func(t *testing.T) {
			tab := browserTab(t)
			srv, m := site(t)
			openEveryDay(t, m, "acme", 9*60, 12*60, "Ana", "Ben")
			withStore(t, m, "acme", func(ctx context.Context, s *domain.Store) {
				st, err := s.Settings(ctx)
				if err != nil {
					t.Fatal(err)
				}
				st.ContactPhone, st.ContactEmail, st.Address = "+34 910 000 000", "hola@acme.example", "Calle Mayor 1, Madrid"
				if err := s.UpdateSettings(ctx, st); err != nil {
					t.Fatal(err)
				}
				if err := s.SetBrandColor(ctx, "#ffb000"); err != nil { // too light for white text as it is
					t.Fatal(err)
				}
			})
			shotA11y := func(name string) {
				t.Helper()
				shot(t, tab, "public-"+vp.name+"-"+name)
				checkA11y(t, tab, axe, vp.name+" "+name)
			}

			do(t, tab, "open the business's page", chromedp.EmulateViewport(vp.width, vp.height), inZone(vp.zone),
				chromedp.Navigate(srv.URL+"/acme"),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="tenant-home"]`)),
			)
			waitText(t, tab, `[data-testid="contact-phone"]`, "+34 910 000 000")
			shotA11y("home")

			do(t, tab, "open the service's calendar",
				chromedp.Click(chromedp.CSS(`[data-testid="book-service"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="calendar"]`)),
			)
			// app.js learns the browser's zone; in Tokyo the page reloads to show times there.
			waitText(t, tab, `[data-testid="zone-note"]`, vp.zone)
			day := chooseOpenDay(t, tab, 3)
			shotA11y("calendar")
			first := value(t, tab, "the first time", chromedp.Text(chromedp.CSS(`[data-testid="slot"] [data-testid="slot-time"]`)))
			madrid, _ := time.LoadLocation("Europe/Madrid")
			browserZone, _ := time.LoadLocation(vp.zone)
			d, _ := domain.ParseDate(day)
			if want := d.At(9*60, madrid).In(browserZone).Format("15:04"); first != want {
				t.Errorf("first time %q, want 09:00 Madrid in %s: %s", first, vp.zone, want)
			}

			// The zone picker: another zone, other times (without waiting for JS to submit).
			other := "America/New_York"
			do(t, tab, "show times in New York",
				chromedp.SetValue(chromedp.CSS(`[data-testid="tz-select"]`), other),
				chromedp.Click(chromedp.CSS(`[data-testid="tz-submit"]`)),
			)
			ny, _ := time.LoadLocation(other)
			want := d.At(9*60, madrid).In(ny).Format("15:04")
			waitText(t, tab, `[data-testid="slot"] [data-testid="slot-time"]`, want)
			waitText(t, tab, `[data-testid="slot"] [data-testid="slot-business-time"]`, "09:00 business time")
			shotA11y("calendar-new-york")

			do(t, tab, "choose a time, send the form empty",
				chromedp.Click(chromedp.CSS(`[data-testid="slot"] a`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="details-page"]`)),
			)
			waitText(t, tab, `[data-testid="details-price"]`, "45.00")
			shotA11y("details")
			do(t, tab, "send the details with mistakes",
				chromedp.SendKeys(chromedp.CSS("#email"), "eva-at-example"),
				chromedp.Click(chromedp.CSS(`[data-testid="book"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-summary"]`)),
			)
			if got := value(t, tab, "the focused field", chromedp.Evaluate[string](`document.activeElement.id`)); got != "name" {
				t.Errorf("focus on %q, want the first field in error (name)", got)
			}
			shotA11y("details-errors")
			do(t, tab, "correct and book",
				chromedp.SendKeys(chromedp.CSS("#name"), "Eva"),
				chromedp.SetValue(chromedp.CSS("#email"), "eva@example.com"),
				chromedp.Click(chromedp.CSS(`[data-testid="book"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirmation"]`)),
			)
			waitText(t, tab, `[data-testid="booking-when"]`, "09:00–10:00 (Europe/Madrid time)")
			waitText(t, tab, `[data-testid="booking-local-when"]`, want)
			for _, sel := range []string{"google-calendar", "outlook-calendar", "ics"} {
				href := value(t, tab, sel, chromedp.AttributeValue(chromedp.CSS(`[data-testid="`+sel+`"]`), "href"))
				if !href.Exists || href.Value == "" {
					t.Errorf("no %s link", sel)
				}
			}
			shotA11y("confirmation")

			do(t, tab, "ask to cancel",
				chromedp.Click(chromedp.CSS(`[data-testid="cancel-start"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="cancel-page"]`)),
			)
			shotA11y("cancel")
			do(t, tab, "keep it",
				chromedp.Click(chromedp.CSS(`[data-testid="keep"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="manage-page"]`)),
			)
			if got := waitText(t, tab, `[data-testid="booking-status"]`, "confirmed"); !strings.Contains(got, "confirmed") {
				t.Errorf("status after keeping it: %q", got)
			}
			shotA11y("manage")

			do(t, tab, "a page that is not there",
				chromedp.Navigate(srv.URL+"/acme/book/999"),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="business-home"]`)),
			)
			shotA11y("not-found")
		})
	}
}
