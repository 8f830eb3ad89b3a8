package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The sign-up form starts at the browser's own time zone (app.js), in a real browser.
func TestEndToEndSignupZone(t *testing.T) {
	tab := browserTab(t)
	srv, _ := site(t)
	do(t, tab, "open the sign-up form in Tokyo", desktop,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
			return err
		}),
		chromedp.Navigate(srv.URL+"/signup"),
		chromedp.WaitVisible(chromedp.CSS("#timezone")),
	)
	if got := value(t, tab, "the zone chosen", chromedp.Value(chromedp.CSS("#timezone"))); got != "Asia/Tokyo" {
		t.Errorf("sign-up zone %q, want the browser's Asia/Tokyo", got)
	}
	shot(t, tab, "desktop-signup-zone")
}
