package web

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// What every public page of a business shares: its branding and contact details, and the
// visitor's own time zone.

// siteView is the business as its public pages show it.
type siteView struct {
	Business, Slug     string
	Brand              string // #rrggbb, readable on white; "" for the default
	LogoURL            string
	Phone, Email, Addr string
	Zone               string // the business's time zone
	VisitorZone        string // the visitor's, when it differs from the business's
	Zones              []string
	TZFormAction       string // the page the time zone picker reloads
	TZKeep             []hiddenField
	ShowContact        bool
}

type hiddenField struct{ Name, Value string }

// siteOf reads the business's branding and contact details for a public page, or answers the
// request itself (logged) and returns false.
func (s *Server) siteOf(w http.ResponseWriter, r *http.Request) (siteView, bool) {
	l := leaseOf(r)
	store := s.store(r)
	st, err := store.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return siteView{}, false
	}
	brand, err := store.Branding(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return siteView{}, false
	}
	v := siteView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Brand: readableBrand(brand.Color),
		Phone: st.ContactPhone, Email: st.ContactEmail, Addr: st.Address, Zone: l.Location.String()}
	if brand.LogoType != "" && s.Blobs != nil {
		v.LogoURL = logoURL(l.Tenant.Slug, brand)
	}
	if loc := visitorLocation(w, r); loc != nil && loc.String() != l.Location.String() {
		v.VisitorZone = loc.String()
	}
	return v, true
}

// withZonePicker makes v's page offer the time zone list, reloading the page's own address with
// its query kept.
func (v siteView) withZonePicker(r *http.Request) siteView {
	v.Zones = zoneNames
	v.TZFormAction = r.URL.Path
	for k, vals := range r.URL.Query() {
		if k == "tz" || k == "msg" || len(vals) == 0 {
			continue
		}
		v.TZKeep = append(v.TZKeep, hiddenField{k, vals[0]})
	}
	return v
}

// zoneSet holds the zones a visitor may choose (web/zones.txt).
var zoneSet = func() map[string]bool {
	m := make(map[string]bool, len(zoneNames))
	for _, z := range zoneNames {
		m[z] = true
	}
	return m
}()

const tzCookie = "tz"

// visitorLocation is the visitor's time zone: ?tz= (remembered in a cookie, so the choice
// follows the visitor from page to page without JavaScript), else the cookie (set by app.js
// from the browser's zone, or by an earlier choice); nil for none or a zone not on the list.
func visitorLocation(w http.ResponseWriter, r *http.Request) *time.Location {
	name := r.URL.Query().Get("tz")
	if name != "" && zoneSet[name] && w != nil {
		http.SetCookie(w, &http.Cookie{Name: tzCookie, Value: name, Path: "/", MaxAge: 365 * 24 * 3600,
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
	if name == "" || !zoneSet[name] {
		if c, err := r.Cookie(tzCookie); err == nil {
			name = c.Value
		}
	}
	if !zoneSet[name] {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}

// readableBrand returns color darkened until white text on it, and it as text on white, has
// a contrast ratio of at least 4.5:1 (WCAG AA): links and primary buttons stay readable
// whatever colour the business picked. "" (or a malformed colour) keeps the default.
func readableBrand(color string) string {
	if domain.CheckBrandColor(color) != nil {
		return ""
	}
	n, err := strconv.ParseUint(color[1:], 16, 32)
	if err != nil {
		return ""
	}
	rgb := [3]float64{float64(n >> 16 & 0xff), float64(n >> 8 & 0xff), float64(n & 0xff)}
	for range 100 {
		if contrastWithWhite(rgb) >= 4.5 {
			break
		}
		for i := range rgb {
			rgb[i] *= 0.92
		}
	}
	return fmt.Sprintf("#%02x%02x%02x", int(rgb[0]), int(rgb[1]), int(rgb[2]))
}

// contrastWithWhite is WCAG 2's contrast ratio of an sRGB colour against white.
func contrastWithWhite(rgb [3]float64) float64 {
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		c := math.Floor(rgb[i]) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	return 1.05 / (lum + 0.05)
}

// calDay is one cell of the month calendar.
type calDay struct {
	Date     string // YYYY-MM-DD; "" for a cell outside the month
	Day      int
	State    string // open, full, closed, later (beyond the booking horizon), past
	URL      string // open days: the page with the day's times
	Selected bool
	Today    bool
}

// monthView is a month of days, in weeks from Monday.
type monthView struct {
	Title            string // December 2026
	Weeks            [][]calDay
	PrevURL, NextURL string
}

// monthOf reads the month a calendar shows: ?month=YYYY-MM, else the month of ?date= or
// ?from=, else today's; never before today's.
func monthOf(r *http.Request, today domain.Date) domain.Date {
	q := r.URL.Query()
	first := domain.Date{Year: today.Year, Month: today.Month, Day: 1}
	if m, err := time.Parse("2006-01", q.Get("month")); err == nil {
		first = domain.Date{Year: m.Year(), Month: m.Month(), Day: 1}
	} else if d, err := domain.ParseDate(q.Get("date")); err == nil {
		first = domain.Date{Year: d.Year, Month: d.Month, Day: 1}
	} else if d, err := domain.ParseDate(q.Get("from")); err == nil {
		first = domain.Date{Year: d.Year, Month: d.Month, Day: 1}
	}
	if first.Before(domain.Date{Year: today.Year, Month: today.Month, Day: 1}) {
		first = domain.Date{Year: today.Year, Month: today.Month, Day: 1}
	}
	return first
}

// lastOfMonth is the last date of first's month.
func lastOfMonth(first domain.Date) domain.Date {
	next := domain.Date{Year: first.Year, Month: first.Month + 1, Day: 1}
	if first.Month == time.December {
		next = domain.Date{Year: first.Year + 1, Month: time.January, Day: 1}
	}
	return next.AddDays(-1)
}

// buildMonth lays out days (today onwards, from one availability call) as a month grid;
// link gives a day's address.
func buildMonth(first, today, selected domain.Date, days []domain.Day, loc *time.Location, link func(domain.Date) string) monthView {
	v := monthView{Title: first.At(12*60, loc).Format("January 2006")}
	byDate := map[domain.Date]domain.Day{}
	for _, d := range days {
		byDate[d.Date] = d
	}
	last := lastOfMonth(first)
	var week []calDay
	for i := 0; i < (int(first.Weekday())+6)%7; i++ {
		week = append(week, calDay{})
	}
	for d := first; !last.Before(d); d = d.AddDays(1) {
		c := calDay{Date: d.String(), Day: d.Day, Today: d == today, Selected: d == selected}
		switch day, ok := byDate[d]; {
		case !ok:
			c.State = "past"
		case day.Later:
			c.State = "later"
		case day.Status == domain.DayOpen:
			c.State, c.URL = "open", link(d)
		case day.Status == domain.DayFull:
			c.State = "full"
		default:
			c.State = "closed"
		}
		week = append(week, c)
		if len(week) == 7 {
			v.Weeks = append(v.Weeks, week)
			week = nil
		}
	}
	if len(week) > 0 {
		for len(week) < 7 {
			week = append(week, calDay{})
		}
		v.Weeks = append(v.Weeks, week)
	}
	return v
}

// slotLabels says a free time in the visitor's zone (main) and, when it differs, in the
// business's (alt).
func slotLabels(t time.Time, business, visitor *time.Location) (main, alt string) {
	if visitor == nil || visitor.String() == business.String() {
		return t.In(business).Format("15:04"), ""
	}
	return t.In(visitor).Format("15:04"), t.In(business).Format("15:04")
}

// visitorZoneOf is the visitor's zone for labels: nil when it is the business's.
func visitorZoneOf(r *http.Request, l *tenancy.Lease) *time.Location {
	loc := visitorLocation(nil, r)
	if loc == nil || loc.String() == l.Location.String() {
		return nil
	}
	return loc
}

// monthLink is the calendar page at month first with date chosen, keeping the staff choice.
func monthLink(r *http.Request, base string, first, date domain.Date) string {
	q := keepStaff(r, url.Values{"month": {fmt.Sprintf("%04d-%02d", first.Year, first.Month)}})
	if date != (domain.Date{}) {
		q.Set("date", date.String())
	}
	return withQuery(base, q)
}

// Helpers of the templates.

func upper(s string) string { return strings.ToUpper(s) }

// currentZone is the zone a page's times are in.
func currentZone(site siteView) string {
	if site.VisitorZone != "" {
		return site.VisitorZone
	}
	return site.Zone
}
