package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTab starts headless Chromium at phone size. Without Chromium the end-to-end tests
// skip, except in CI (CI=true), where a missing browser fails the run.
// browserStartWait bounds Chromium's start.
const browserStartWait = 90 * time.Second

func browserTab(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed: .ci/run must install it (apt-get install -y chromium)")
		}
		t.Skip("no Chromium here (apt-get install -y chromium to run the end-to-end tests)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.Flag("disable-gpu", true), chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser with a bound: on a loaded machine Chromium's start has hung, and a test
	// that waits for it forever only ends at go test's timeout, with nothing said.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(browserStartWait):
		cancel()
		t.Fatalf("Chromium did not start within %s", browserStartWait)
	}
	return ctx
}

// screenshotDir is where the end-to-end tests save a screenshot of each page they visit:
// web/testdata/screenshots (gitignored), or $RESERVA_SCREENSHOTS.
func screenshotDir() string {
	if dir := os.Getenv("RESERVA_SCREENSHOTS"); dir != "" {
		return dir
	}
	return filepath.Join("testdata", "screenshots")
}

// shotWait bounds one try of a screenshot.
const shotWait = 20 * time.Second

// shot saves a full-page screenshot of the tab in screenshotDir.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A capture has hung for good under load (Chromium never answered it, the test then waited for
	// go test's 10-minute timeout): each try is bounded and tried twice. A screenshot is a picture
	// for people to look at, not an assertion, so one that cannot be taken is said, not failed.
	var png []byte
	var err error
	for range 2 {
		sctx, cancel := context.WithTimeout(ctx, shotWait)
		png, err = chromedp.Run(sctx, chromedp.FullScreenshot(100)) // quality 100 gives PNG; lower gives JPEG
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Logf("screenshot %s not saved: %v", name, err)
		return
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o640); err != nil {
		t.Fatal(err)
	}
}

// waitText waits until the element's text contains want: after a click that navigates, the old
// page may still be there for a moment, and the new one still loading.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			if got = s; strings.Contains(s, want) {
				return s
			}
		}
	}
	t.Errorf("%s says %q, want %q", sel, got, want)
	return got
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns something, failing the test on error.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

var (
	desktop = chromedp.EmulateViewport(1280, 900)
	phone   = chromedp.EmulateViewport(390, 844)
)

// A business signs up and sets itself up in its dashboard (a desktop); a customer books on a
// phone; the business sees the booking in its calendar; the customer reschedules and cancels
// with the private link.
func TestEndToEndBooking(t *testing.T) {
	// The site before the browser, so the browser (and the dashboard's live-update websocket,
	// which holds a lease on the business) goes first at cleanup.
	srv, _ := site(t)
	tab := browserTab(t)

	do(t, tab, "sign up", desktop,
		chromedp.Navigate(srv.URL+"/signup"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Zen Yoga"),
		chromedp.SetValue(chromedp.CSS("#timezone"), "Europe/Madrid"),
		chromedp.SendKeys(chromedp.CSS("#email"), "me@zen.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`[data-testid="signup-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-calendar"]`)),
	)
	waitText(t, tab, `[data-testid="admin-user"]`, "Owner")
	shot(t, tab, "desktop-dashboard-empty")

	// A staff member and her hours: mornings, every day.
	do(t, tab, "add a staff member",
		chromedp.Navigate(srv.URL+"/zen-yoga/admin/staff"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Ana"),
		chromedp.Click(chromedp.CSS(`[data-testid="staff-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="hours-form"]`)),
	)
	var hours []chromedp.Action[chromedp.Void]
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		hours = append(hours, chromedp.SetValue(chromedp.CSS("#hours-"+d+"-0-from"), "09:00"), chromedp.SetValue(chromedp.CSS("#hours-"+d+"-0-to"), "12:00"))
	}
	hours = append(hours, chromedp.Click(chromedp.CSS(`[data-testid="hours-submit"]`)))
	do(t, tab, "set her hours", hours...)
	waitText(t, tab, `[data-testid="flash"]`, "Saved.")
	shot(t, tab, "desktop-staff-hours")

	do(t, tab, "add a service",
		chromedp.Navigate(srv.URL+"/zen-yoga/admin/services"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Massage"),
		chromedp.SetValue(chromedp.CSS("#duration"), "60"),
		chromedp.SetValue(chromedp.CSS("#price"), "45"),
		chromedp.Click(chromedp.CSS(`input[name="staffIds"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="service-submit"]`)),
	)
	waitText(t, tab, `[data-testid="flash"]`, `Service "Massage" added.`)
	shot(t, tab, "desktop-services")

	do(t, tab, "choose a service and a day", phone,
		chromedp.Navigate(srv.URL+"/zen-yoga"),
		chromedp.Click(chromedp.CSS(`[data-testid="book-service"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="days-page"]`)),
	)
	shot(t, tab, "days")
	day := chooseOpenDay(t, tab, 3)
	shot(t, tab, "times")
	do(t, tab, "fill in the details and book",
		chromedp.Click(chromedp.CSS(`[data-testid="slot"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="details-page"]`)),
		chromedp.SendKeys(chromedp.CSS("#name"), "Eva"),
		chromedp.SendKeys(chromedp.CSS("#email"), "eva@example.com"),
		chromedp.Click(chromedp.CSS(`[data-testid="book"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirmation"]`)),
	)
	shot(t, tab, "booked")
	waitText(t, tab, `[data-testid="booking-when"]`, "09:00–10:00 (Europe/Madrid time)")
	manage := value(t, tab, "the manage link", chromedp.Location())

	// The business sees it in its calendar, on a desktop.
	do(t, tab, "open the calendar", desktop,
		chromedp.Navigate(srv.URL+"/zen-yoga/admin/calendar?view=week&date="+day),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-calendar"]`)),
	)
	waitText(t, tab, `[data-testid="cal-day"][data-date="`+day+`"] [data-testid="booking"]`, "09:00–10:00 Massage · Eva")
	shot(t, tab, "desktop-calendar-week")

	do(t, tab, "reschedule", phone,
		chromedp.Navigate(manage),
		chromedp.Click(chromedp.CSS(`[data-testid="reschedule"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="days-page"]`)),
	)
	day = chooseOpenDay(t, tab, 4)
	do(t, tab, "choose the new time",
		chromedp.Click(chromedp.CSS(`[data-testid="slot"]:nth-of-type(2) button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="manage-page"] [data-testid="message"]`)),
	)
	waitText(t, tab, `[data-testid="message"]`, "Your booking has moved.")
	waitText(t, tab, `[data-testid="booking-when"]`, "09:15–10:15")
	do(t, tab, "cancel",
		chromedp.Click(chromedp.CSS(`[data-testid="cancel-start"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="cancel-page"]`)),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Sorry, ill"),
		chromedp.Click(chromedp.CSS(`[data-testid="cancel"]`)),
	)
	waitText(t, tab, `[data-testid="booking-status"]`, "cancelled")
	shot(t, tab, "cancelled")

	// The dashboard shows the cancellation with the customer's reason in its history.
	do(t, tab, "see the cancellation", desktop,
		chromedp.Navigate(srv.URL+"/zen-yoga/admin/calendar?view=week&date="+day),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-calendar"]`)),
	)
	waitText(t, tab, `[data-testid="booking"][data-status="cancelled"]`, "Eva")
	shot(t, tab, "desktop-calendar-cancelled")
	t.Logf("screenshots in %s", screenshotDir())
}

// chooseOpenDay clicks the nth day with free times in the month calendar (next month's when
// this one has fewer), waits for its times beside the calendar and returns its date.
func chooseOpenDay(t *testing.T, tab context.Context, n int) string {
	t.Helper()
	pick := `(() => { const a = document.querySelectorAll('[data-testid="day"][data-status="OPEN"]'); return a.length >= ` +
		strconv.Itoa(n) + ` ? a[` + strconv.Itoa(n-1) + `].dataset.date : ""; })()`
	day := value(t, tab, "the open days", chromedp.Evaluate[string](pick))
	if day == "" {
		month := value(t, tab, "this month", chromedp.Text(chromedp.CSS(`[data-testid="month-title"]`)))
		do(t, tab, "go to next month", chromedp.Click(chromedp.CSS(`[data-testid="next-month"]`)))
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if value(t, tab, "the month", chromedp.Text(chromedp.CSS(`[data-testid="month-title"]`))) != month {
				break
			}
		}
		day = value(t, tab, "next month's open days", chromedp.Evaluate[string](pick))
	}
	if day == "" {
		t.Fatalf("fewer than %d days with free times", n)
	}
	do(t, tab, "choose "+day,
		chromedp.Click(chromedp.CSS(`[data-testid="day"][data-date="`+day+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="day"].selected[data-date="`+day+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="slot"]`)),
	)
	return day
}
