package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/paths"
)

// The public booking flow: service → staff (or anyone) → a week of days → a day's free times →
// details → the booking's own page. Every step is a plain page with links and forms: no
// JavaScript needed.

// notices are the messages a redirect can ask a page to show (?msg=code): fixed texts (catalog
// messages), so a crafted link cannot put words on the business's pages.
var notices = map[string]string{
	"taken":       "notice.taken",
	"passed":      "notice.passed",
	"unavailable": "notice.unavailable",
	"moved":       "notice.moved",
	"cancelled":   "notice.cancelled",
	"toolate":     "notice.toolate",
	"closed":      "notice.closed",
}

// noticeText is notice code's text in the language of ctx, "" for no notice.
func noticeText(ctx context.Context, code string) string {
	if id, ok := notices[code]; ok {
		return tr(ctx, id)
	}
	return ""
}

func notice(r *http.Request) string { return noticeText(r.Context(), r.URL.Query().Get("msg")) }

// bookableService reads the {service} path value as an active service, or answers 404.
func (s *Server) bookableService(w http.ResponseWriter, r *http.Request) (domain.Service, bool) {
	id, err := strconv.ParseInt(r.PathValue("service"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return domain.Service{}, false
	}
	svc, err := s.store(r).Service(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND || (err == nil && !svc.Active) {
		s.notFound(w, r)
		return svc, false
	}
	if err != nil {
		s.fail(w, r, err)
		return svc, false
	}
	return svc, true
}

// describeWhen says when, in the business's zone, naming it (in English, for the dashboard).
func describeWhen(start time.Time, d time.Duration, loc *time.Location) string {
	st := start.In(loc)
	return fmt.Sprintf("%s, %s–%s (%s time)", st.Format("Monday 2 January 2006"), st.Format("15:04"), st.Add(d).Format("15:04"), loc)
}

// whenIn says when, in zone loc, naming it, in the language of ctx (the public pages').
func whenIn(ctx context.Context, start time.Time, d time.Duration, loc *time.Location) string {
	l, st := i18n.From(ctx), start.In(loc)
	return l.T("when.range", map[string]any{"Date": l.LongDate(st), "Start": l.Time(st), "End": l.Time(st.Add(d)), "Zone": loc.String()})
}

func (s *Server) bookDetails(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.bookableService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	start, err := time.Parse(time.RFC3339, r.URL.Query().Get("start"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err)
		return
	}
	if !start.After(time.Now()) { // an old link, or the back button
		q := url.Values{"date": {domain.DateOf(start.In(l.Location)).String()}, "msg": {"passed"}}
		if staff := r.URL.Query().Get("staff"); staff != "" {
			q.Set("staff", staff)
		}
		http.Redirect(w, r, withQuery(bookingBase(l.Tenant.Slug, svc.ID)+"/slots", q), http.StatusSeeOther)
		return
	}
	v, ok := s.detailsOf(w, r, svc, start, r.URL.Query().Get("staff"))
	if !ok {
		return
	}
	v.Start, v.Key = start.Format(time.RFC3339), rand.Text()
	render(w, r, http.StatusOK, detailsPage(v))
}

// detailsOf is the details form of booking svc at start with staff (an id, "" for anyone),
// with everything the customer should know before booking; it answers the request itself (and
// returns false) when that cannot be read.
func (s *Server) detailsOf(w http.ResponseWriter, r *http.Request, svc domain.Service, start time.Time, staff string) (detailsView, bool) {
	l := leaseOf(r)
	site, ok := s.siteOf(w, r)
	if !ok {
		return detailsView{}, false
	}
	if r.Method == http.MethodGet { // the picker reloads this page; a posted form's stays
		site = site.withZonePicker(r)
	}
	lang := i18n.From(r.Context())
	v := detailsView{Site: site, Service: svc.Name, When: whenIn(r.Context(), start, svc.Duration, l.Location),
		Duration: lang.Duration(svc.Duration), Price: lang.Money(svc.Price.Amount, svc.Price.Currency),
		Action: bookingBase(l.Tenant.Slug, svc.ID), Staff: staff, Errors: map[string]string{}}
	if loc := visitorZoneOf(r, l); loc != nil {
		v.LocalWhen = whenIn(r.Context(), start, svc.Duration, loc)
	}
	if id, err := strconv.ParseInt(staff, 10, 64); err == nil && id != 0 {
		members, err := s.store(r).StaffByIDs(r.Context(), []int64{id})
		if err != nil {
			s.fail(w, r, err)
			return v, false
		}
		v.StaffName = members[id].Name
	}
	if v.Cutoff, ok = s.cutoffNote(w, r, start); !ok {
		return v, false
	}
	return v, true
}

// detailsProblems checks the customer's details as the domain will, all at once: a problem
// code (missing, invalid, long) by field, and the first field with one.
func detailsProblems(v detailsView) (map[string]string, string) {
	errs := map[string]string{}
	name, email := strings.TrimSpace(v.Name), strings.TrimSpace(v.Email)
	switch {
	case name == "":
		errs["name"] = "missing"
	case utf8.RuneCountInString(name) > domain.MaxNameLen:
		errs["name"] = "long"
	}
	switch {
	case email == "":
		errs["email"] = "missing"
	case (&domain.Customer{Name: "x", Email: email}).Validate() != nil:
		errs["email"] = "invalid"
	}
	if utf8.RuneCountInString(strings.TrimSpace(v.Phone)) > domain.MaxPhoneLen {
		errs["phone"] = "long"
	}
	if utf8.RuneCountInString(v.Note) > domain.MaxNotesLen {
		errs["notes"] = "long"
	}
	for _, f := range []string{"name", "email", "phone", "notes"} {
		if errs[f] != "" {
			return errs, f
		}
	}
	return errs, ""
}

// cutoffNote tells a customer about to book start until when they can change or cancel it
// online, or that they cannot once it is booked: "" without a cutoff. It answers the request
// itself (and returns false) when the settings cannot be read.
func (s *Server) cutoffNote(w http.ResponseWriter, r *http.Request, start time.Time) (string, bool) {
	st, err := s.store(r).Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return "", false
	}
	if st.CancelCutoff <= 0 {
		return "", true
	}
	// The domain's rule, asked of the booking as it would be once made.
	switch err := s.store(r).CheckChangeOnline(r.Context(), domain.Booking{Status: domain.StatusConfirmed, Start: start}); {
	case domain.ErrorCode(err) == domain.ETOOLATE:
		return tr(r.Context(), "cutoff.too_close", map[string]any{"Span": i18n.From(r.Context()).Span(st.CancelCutoff)}), true
	case err != nil:
		s.fail(w, r, err)
		return "", false
	}
	l := leaseOf(r)
	deadline := start.Add(-st.CancelCutoff)
	return tr(r.Context(), "cutoff.until", map[string]any{"When": i18n.From(r.Context()).DayTime(deadline.In(l.Location))}), true
}

// bookCreate books the posted details. A time lost meanwhile (taken, or passed) comes back as
// the same form with a message and that day's other free times to pick from, details kept; bad
// details come back next to their fields, input kept.
func (s *Server) bookCreate(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.bookableService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	start, err := time.Parse(time.RFC3339, r.PostFormValue("start"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err)
		return
	}
	staffID, _ := strconv.ParseInt(r.PostFormValue("staff"), 10, 64)
	v, ok := s.detailsOf(w, r, svc, start, r.PostFormValue("staff"))
	if !ok {
		return
	}
	v.Start, v.Key, v.TZ = r.PostFormValue("start"), r.PostFormValue("key"), r.PostFormValue("tz")
	v.Name, v.Email, v.Phone, v.Note = r.PostFormValue("name"), r.PostFormValue("email"), r.PostFormValue("phone"), r.PostFormValue("notes")
	req := domain.BookingRequest{
		ServiceID: svc.ID, StaffID: staffID, Start: start, Notes: v.Note, IdempotencyKey: v.Key, Actor: domain.ActorCustomer,
		Customer: domain.Customer{Name: v.Name, Email: v.Email, Phone: v.Phone},
		Locale:   i18n.From(r.Context()).Lang(), // the mail about the booking speaks the page's language
	}
	booked := func(token domain.ManageToken) {
		q := url.Values{"new": {"1"}}
		// The zone the visitor chose (or app.js found) for these pages, else the browser's
		// as the form reports it.
		loc := visitorLocation(nil, r)
		if loc == nil {
			loc = visitorZone(v.TZ)
		}
		if loc != nil && loc.String() != l.Location.String() {
			q.Set("tz", loc.String())
		}
		http.Redirect(w, r, withQuery(paths.Site(l.Tenant.Slug, paths.Manage(string(token))), q), http.StatusSeeOther)
	}
	// The form books like GraphQL's createBooking, and is limited the same way.
	if key := l.Tenant.ID + "/" + clientIP(r); !s.bookingLimit.Allow(key) {
		// A form sent again whose first sending booked (its answer lost) still reaches the booking.
		_, token, err := s.store(r).ReplayBooking(r.Context(), req)
		if err == nil {
			booked(token)
			return
		}
		if _, _, ok := s.userCaused(w, r, err); !ok {
			return
		}
		wait := tooManyWait(w, s.bookingLimit, key)
		v.Message = tr(r.Context(), "msg.too_many", map[string]any{"Wait": i18n.From(r.Context()).Wait(wait)})
		render(w, r, http.StatusTooManyRequests, detailsPage(v))
		return
	}
	// Every problem with the details at once, each beside its field (the domain stops at the
	// first).
	if v.Errors, v.FirstError = detailsProblems(v); v.FirstError != "" {
		render(w, r, http.StatusUnprocessableEntity, detailsPage(v))
		return
	}
	_, token, err := s.store(r).CreateBooking(r.Context(), req)
	var derr *domain.Error
	switch {
	case err == nil:
		booked(token)
	case domain.ErrorCode(err) == domain.ESLOTUNAVAILABLE:
		// The details stay on the page: the customer picks another time of that day with the
		// same staff member (anyone's, for "anyone"), or goes to another day.
		if !s.offerOtherTimes(w, r, svc, start, staffID, &v) {
			return
		}
		render(w, r, http.StatusConflict, detailsPage(v))
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		// The service or staff member changed while the customer filled in the form.
		http.Redirect(w, r, withQuery(bookingBase(l.Tenant.Slug, svc.ID), url.Values{"msg": {"unavailable"}}), http.StatusSeeOther)
	case errors.As(err, &derr) && derr.Code == domain.EINVALID:
		switch derr.Field {
		case "customer.name", "customer.email", "customer.phone", "notes":
			field := strings.TrimPrefix(derr.Field, "customer.")
			v.Errors[field], v.FirstError = "invalid", field
		case "idempotencyKey":
			// The form already booked another time or other details (the back button after a
			// booking): a new key lets it book this one, once it is sent again.
			v.Key = rand.Text()
			v.Message = tr(r.Context(), "msg.form_used")
		default:
			v.Message = sentence(derr.Message)
		}
		render(w, r, http.StatusUnprocessableEntity, detailsPage(v))
	default:
		s.fail(w, r, err)
	}
}

// offerOtherTimes fills v, whose time was lost, with why and what else there is: that day's
// free times with staffID (with anyone's for "anyone", staffID 0, so every staff member's free
// times are offered), or where to choose another day. It answers the request itself (and
// returns false) when availability cannot be read.
func (s *Server) offerOtherTimes(w http.ResponseWriter, r *http.Request, svc domain.Service, start time.Time, staffID int64, v *detailsView) bool {
	l := leaseOf(r)
	v.Message = noticeText(r.Context(), lostTime(start))
	day := domain.DateOf(start.In(l.Location))
	v.When = i18n.From(r.Context()).LongDate(start.In(l.Location)) // the choices are that day's
	days, err := s.store(r).Availability(r.Context(), domain.AvailabilityQuery{ServiceID: svc.ID, StaffID: staffID, From: day, To: day})
	if err != nil && staffID != 0 {
		if _, _, ok := s.userCaused(w, r, err); !ok {
			return false // a failure, not a choice: logged and answered
		}
		// The staff member left the service meanwhile, say: anyone's times, booked as anyone.
		staffID, v.Staff = 0, ""
		days, err = s.store(r).Availability(r.Context(), domain.AvailabilityQuery{ServiceID: svc.ID, From: day, To: day})
	}
	if err != nil {
		if _, _, ok := s.userCaused(w, r, err); !ok {
			return false
		}
		days = nil // the service went meanwhile: no times, only other days
	}
	v.Choices = nil
	if len(days) == 1 {
		for _, sl := range days[0].Slots {
			v.Choices = append(v.Choices, slotView{Label: sl.Start.In(l.Location).Format("15:04"), Start: sl.Start.Format(time.RFC3339)})
		}
	}
	if len(v.Choices) == 0 {
		q := url.Values{"from": {day.String()}}
		if staffID != 0 {
			q.Set("staff", strconv.FormatInt(staffID, 10))
		}
		v.OtherDaysURL = withQuery(bookingBase(l.Tenant.Slug, svc.ID), q)
	}
	return true
}

// lostTime names, for a notice, why start could not be booked: it has passed, or it was taken.
func lostTime(start time.Time) string {
	if !start.After(time.Now()) {
		return "passed"
	}
	return "taken"
}

// cancelForm asks the customer to confirm the cancellation (a page of its own, so no
// JavaScript is needed to ask).
func (s *Server) cancelForm(w http.ResponseWriter, r *http.Request) {
	b, ok := s.managedBooking(w, r)
	if !ok {
		return
	}
	s.showManaged(w, r, b, http.StatusOK, "")
}

// calendarLinks are the links that add b to Google Calendar and to Outlook on the web.
func calendarLinks(r *http.Request, b domain.Booking, service, business, address string) (google, outlook string) {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	manage := scheme + "://" + r.Host + paths.Site(leaseOf(r).Tenant.Slug, paths.Manage(r.PathValue("token")))
	title := service + " · " + business
	details := tr(r.Context(), "manage.calendar_details", map[string]any{"Link": manage})
	const compact = "20060102T150405Z"
	g := url.Values{"action": {"TEMPLATE"}, "text": {title}, "details": {details},
		"dates": {b.Start.UTC().Format(compact) + "/" + b.End.UTC().Format(compact)}}
	o := url.Values{"path": {"/calendar/action/compose"}, "rru": {"addevent"}, "subject": {title}, "body": {details},
		"startdt": {b.Start.UTC().Format(time.RFC3339)}, "enddt": {b.End.UTC().Format(time.RFC3339)}}
	if address != "" {
		g.Set("location", address)
		o.Set("location", address)
	}
	return "https://calendar.google.com/calendar/render?" + g.Encode(),
		"https://outlook.live.com/calendar/0/deeplink/compose?" + o.Encode()
}

// refusalText is why the domain refused a customer's change (message, its words), in the
// language of ctx: the domain speaks English, so another language gets the notice that says the
// same (too late, closed) or the rule that was broken.
func refusalText(ctx context.Context, err error, message string) string {
	if i18n.From(ctx).Lang() == "en" {
		return message
	}
	var derr *domain.Error
	switch {
	case domain.ErrorCode(err) == domain.ETOOLATE:
		return noticeText(ctx, "toolate")
	case domain.ErrorCode(err) == domain.ECONFLICT:
		return noticeText(ctx, "closed")
	case errors.As(err, &derr) && derr.Field == "reason":
		return tr(ctx, "err.reason.long", map[string]any{"Max": domain.MaxCancelReasonLen})
	}
	return message
}
