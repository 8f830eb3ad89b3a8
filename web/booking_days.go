package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/tenancy"
)

// bookingBase is the path of a service's booking flow.
func bookingBase(slug string, serviceID int64) string {
	return paths.Site(slug, paths.Book(strconv.FormatInt(serviceID, 10)))
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// weekFrom reads ?from= (default today in the business's zone).
func weekFrom(r *http.Request, loc *time.Location) domain.Date {
	if d, err := domain.ParseDate(r.URL.Query().Get("from")); err == nil {
		return d
	}
	return domain.DateOf(time.Now().In(loc))
}

func staffParam(r *http.Request) int64 {
	id, _ := strconv.ParseInt(r.URL.Query().Get("staff"), 10, 64)
	return id
}

// keepStaff adds the staff member r chose (none for "anyone") to q, for a link that stays
// with them, and returns q.
func keepStaff(r *http.Request, q url.Values) url.Values {
	if staffID := staffParam(r); staffID != 0 {
		q.Set("staff", strconv.FormatInt(staffID, 10))
	}
	return q
}

// days renders a month calendar of a service's availability beside the chosen day's free
// times; base is the flow's path (booking or rescheduling), slotsPath that of a day's times
// on their own page, postURL set when choosing a time posts (rescheduling). The month's day
// states and times come from one availability call.
func (s *Server) days(w http.ResponseWriter, r *http.Request, svc domain.Service, title, base, postURL string, staffChoice bool) {
	l := leaseOf(r)
	store := s.store(r)
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	lang := i18n.From(r.Context())
	today := domain.DateOf(time.Now().In(l.Location))
	first := monthOf(r, today)
	from := first
	if first.Before(today) {
		from = today
	}
	last := lastOfMonth(first)
	staffID := staffParam(r)
	days, err := s.availabilityFor(r, domain.AvailabilityQuery{ServiceID: svc.ID, StaffID: staffID, From: from, To: last})
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The chosen day: ?date= in this month, else its first day with free times.
	var chosen domain.Date
	if d, err := domain.ParseDate(r.URL.Query().Get("date")); err == nil && !d.Before(from) && !last.Before(d) {
		chosen = d
	}
	var chosenDay *domain.Day
	for i := range days {
		if days[i].Date == chosen || (chosen == (domain.Date{}) && days[i].Status == domain.DayOpen) {
			chosenDay, chosen = &days[i], days[i].Date
			break
		}
	}
	v := daysView{Site: site.withZonePicker(r), Title: title, Service: svc.Name, Message: notice(r),
		Duration: lang.Duration(svc.Duration), Price: lang.Money(svc.Price.Amount, svc.Price.Currency), PostURL: postURL,
		Month: buildMonth(lang, first, today, chosen, days, l.Location, func(d domain.Date) string { return monthLink(r, base, first, d) + "#times" })}
	if staffChoice && len(svc.StaffIDs) > 1 {
		staff, err := store.StaffByIDs(r.Context(), svc.StaffIDs)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		month := url.Values{"month": {fmt.Sprintf("%04d-%02d", first.Year, first.Month)}}
		v.Staff = append(v.Staff, staffOption{Name: lang.T("site.anyone"), URL: withQuery(base, month), Selected: staffID == 0})
		for _, id := range svc.StaffIDs {
			if st, ok := staff[id]; ok && st.Active {
				q := url.Values{"month": month["month"], "staff": {strconv.FormatInt(id, 10)}}
				v.Staff = append(v.Staff, staffOption{Name: st.Name, Selected: staffID == id, URL: withQuery(base, q)})
			}
		}
	}
	if chosenDay != nil {
		v.Day = lang.DayMonth(chosenDay.Date.At(12*60, l.Location))
		v.Slots = slotViews(r, l, chosenDay.Slots, base, postURL)
	}
	if today.Before(first) {
		prev := domain.Date{Year: first.Year, Month: first.Month - 1, Day: 1}
		if first.Month == time.January {
			prev = domain.Date{Year: first.Year - 1, Month: time.December, Day: 1}
		}
		v.Month.PrevURL = monthLink(r, base, prev, domain.Date{})
	}
	v.Month.NextURL = monthLink(r, base, last.AddDays(1), domain.Date{})
	render(w, r, http.StatusOK, daysPage(v))
}

// availabilityFor is the availability a page offers: the booking flow's or, under a booking's
// manage token, its reschedule's, where the booking's own time does not block its move.
func (s *Server) availabilityFor(r *http.Request, q domain.AvailabilityQuery) ([]domain.Day, error) {
	if token := r.PathValue("token"); token != "" {
		return s.store(r).RescheduleAvailability(r.Context(), domain.ManageToken(token), q)
	}
	return s.store(r).Availability(r.Context(), q)
}

// daySlots returns the free times of ?date= for svc, or answers the request itself (400 for a
// bad date, 500 for a failure) and returns false.
func (s *Server) daySlots(w http.ResponseWriter, r *http.Request, svc domain.Service) (domain.Date, []domain.Slot, bool) {
	day, err := domain.ParseDate(r.URL.Query().Get("date"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err)
		return day, nil, false
	}
	days, err := s.availabilityFor(r, domain.AvailabilityQuery{ServiceID: svc.ID, StaffID: staffParam(r), From: day, To: day})
	if err == nil {
		return day, days[0].Slots, true
	}
	// A user's error here comes from the link (a staff member or date it cannot have).
	if _, _, ok := s.userCaused(w, r, err); ok {
		s.errorPage(w, r, http.StatusBadRequest, err)
	}
	return day, nil, false
}

func (s *Server) bookDays(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.bookableService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	base := bookingBase(l.Tenant.Slug, svc.ID)
	s.days(w, r, svc, tr(r.Context(), "title.choose_day_time"), base, "", true)
}

func (s *Server) bookSlots(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.bookableService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	s.slots(w, r, svc, tr(r.Context(), "title.choose_time"), bookingBase(l.Tenant.Slug, svc.ID), "")
}

// slots renders the free times of the day in ?date= for svc, for booking and for
// rescheduling. base is the page's own URL (the way back to the days). With postURL empty
// each time links to base's details form (booking); otherwise the chosen time is posted to
// postURL (rescheduling).
func (s *Server) slots(w http.ResponseWriter, r *http.Request, svc domain.Service, title, base, postURL string) {
	l := leaseOf(r)
	day, slots, ok := s.daySlots(w, r, svc)
	if !ok {
		return
	}
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	v := slotsView{Site: site.withZonePicker(r), Title: title, Service: svc.Name,
		Day: i18n.From(r.Context()).DayMonth(day.At(12*60, l.Location)), PostURL: postURL, Message: notice(r),
		BackURL: withQuery(base, keepStaff(r, url.Values{"date": {day.String()}}))}
	v.Slots = slotViews(r, l, slots, base, postURL)
	render(w, r, http.StatusOK, slotsPage(v))
}

// slotViews lists slots for a page of base's flow: each a link to base's details form, or,
// with postURL set (rescheduling), a time posted with the chosen staff member. That is the
// member the customer chose, or none for "anyone": the booking (or the move) then takes
// whoever is free at that time when it is made, not only the one listed now.
func slotViews(r *http.Request, l *tenancy.Lease, slots []domain.Slot, base, postURL string) []slotView {
	visitor := visitorZoneOf(r, l)
	staffID := staffParam(r)
	var views []slotView
	for _, sl := range slots {
		sv := slotView{Start: sl.Start.Format(time.RFC3339), Staff: staffID}
		sv.Label, sv.Alt = slotLabels(sl.Start, l.Location, visitor)
		if postURL == "" {
			sv.URL = withQuery(base+"/details", keepStaff(r, url.Values{"start": {sv.Start}}))
		}
		views = append(views, sv)
	}
	return views
}

// visitorZone is the time zone a visitor's browser reported (an IANA name such as
// America/New_York), or nil when it is missing or unknown.
func visitorZone(name string) *time.Location {
	if name == "" || len(name) > 64 || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/+-") != "" {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return loc
}
