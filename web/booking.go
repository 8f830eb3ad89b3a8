package web

import (
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
	"github.com/reserva/reserva/internal/paths"
)

// The public booking flow: service → staff (or anyone) → a week of days → a day's free times →
// details → the booking's own page. Every step is a plain page with links and forms: no
// JavaScript needed.

// notices are the messages a redirect can ask a page to show (?msg=code): fixed texts, so a
// crafted link cannot put words on the business's pages.
var notices = map[string]string{
	"taken":       "Sorry, that time was just taken. Please choose another.",
	"passed":      "That time has passed. Please choose another.",
	"unavailable": "That choice is no longer available. Please choose again.",
	"moved":       "Your booking has moved.",
	"cancelled":   "Your booking is cancelled.",
	"toolate":     "It is too late to change this booking online. Please contact the business.",
	"closed":      "This booking is already cancelled or over.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("msg")] }

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
		Duration: formatDuration(svc.Duration), Price: formatMoney(svc.Price), PostURL: postURL,
		Month: buildMonth(first, today, chosen, days, l.Location, func(d domain.Date) string { return monthLink(r, base, first, d) + "#times" })}
	if staffChoice && len(svc.StaffIDs) > 1 {
		staff, err := store.StaffByIDs(r.Context(), svc.StaffIDs)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		month := url.Values{"month": {fmt.Sprintf("%04d-%02d", first.Year, first.Month)}}
		v.Staff = append(v.Staff, staffOption{Name: "Anyone", URL: withQuery(base, month), Selected: staffID == 0})
		for _, id := range svc.StaffIDs {
			if st, ok := staff[id]; ok && st.Active {
				q := url.Values{"month": month["month"], "staff": {strconv.FormatInt(id, 10)}}
				v.Staff = append(v.Staff, staffOption{Name: st.Name, Selected: staffID == id, URL: withQuery(base, q)})
			}
		}
	}
	if chosenDay != nil {
		v.Day = chosenDay.Date.At(12*60, l.Location).Format("Monday 2 January")
		visitor := visitorZoneOf(r, l)
		for _, sl := range chosenDay.Slots {
			sv := slotView{Start: sl.Start.Format(time.RFC3339), Staff: staffID}
			sv.Label, sv.Alt = slotLabels(sl.Start, l.Location, visitor)
			// The staff member the customer chose, or none for "anyone": the booking then takes
			// whoever is free at that time when it is made, not only the one listed now.
			if postURL == "" {
				sv.URL = withQuery(base+"/details", keepStaff(r, url.Values{"start": {sv.Start}}))
			}
			v.Slots = append(v.Slots, sv)
		}
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
	s.days(w, r, svc, "Choose a day and time", base, "", true)
}

func (s *Server) bookSlots(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.bookableService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	day, slots, ok := s.daySlots(w, r, svc)
	if !ok {
		return
	}
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	base := bookingBase(l.Tenant.Slug, svc.ID)
	v := slotsView{Site: site.withZonePicker(r), Title: "Choose a time", Service: svc.Name,
		Day: day.At(12*60, l.Location).Format("Monday 2 January"), Message: notice(r),
		BackURL: withQuery(base, keepStaff(r, url.Values{"date": {day.String()}}))}
	visitor := visitorZoneOf(r, l)
	for _, sl := range slots {
		// The staff member the customer chose, or none for "anyone": the booking then takes
		// whoever is free at that time when it is made, not only the one listed now.
		q := keepStaff(r, url.Values{"start": {sl.Start.Format(time.RFC3339)}})
		sv := slotView{URL: withQuery(base+"/details", q)}
		sv.Label, sv.Alt = slotLabels(sl.Start, l.Location, visitor)
		v.Slots = append(v.Slots, sv)
	}
	render(w, r, http.StatusOK, slotsPage(v))
}

// describeWhen says when, in the business's zone, naming it.
func describeWhen(start time.Time, d time.Duration, loc *time.Location) string {
	st := start.In(loc)
	return fmt.Sprintf("%s, %s–%s (%s time)", st.Format("Monday 2 January 2006"), st.Format("15:04"), st.Add(d).Format("15:04"), loc)
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
	v := detailsView{Site: site, Service: svc.Name, When: describeWhen(start, svc.Duration, l.Location),
		Duration: formatDuration(svc.Duration), Price: formatMoney(svc.Price),
		Action: bookingBase(l.Tenant.Slug, svc.ID), Staff: staff, Errors: map[string]string{}}
	if loc := visitorZoneOf(r, l); loc != nil {
		v.LocalWhen = describeWhen(start, svc.Duration, loc)
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
		return "This time is less than " + domain.HumanDuration(st.CancelCutoff) + " away: once booked, it cannot be changed or cancelled online.", true
	case err != nil:
		s.fail(w, r, err)
		return "", false
	}
	l := leaseOf(r)
	deadline := start.Add(-st.CancelCutoff)
	return "You will be able to change or cancel it online until " + deadline.In(l.Location).Format("Monday 2 January 15:04") + ".", true
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
		v.Message = "Too many bookings from your address. Please try again in " + tooMany(w, s.bookingLimit, key) + "."
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
			v.Message = "This form was already used for another booking. Check the details and press Book again."
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
	v.Message = notices[lostTime(start)]
	day := domain.DateOf(start.In(l.Location))
	v.When = start.In(l.Location).Format("Monday 2 January 2006") // the choices are that day's
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

// managedBooking reads the {token} path value, or answers 404.
func (s *Server) managedBooking(w http.ResponseWriter, r *http.Request) (domain.Booking, bool) {
	b, err := s.store(r).BookingByToken(r.Context(), domain.ManageToken(r.PathValue("token")))
	if err != nil {
		s.fail(w, r, err)
		return b, false
	}
	return b, true
}

func (s *Server) manageBooking(w http.ResponseWriter, r *http.Request) {
	b, ok := s.managedBooking(w, r)
	if !ok {
		return
	}
	s.showManaged(w, r, b, http.StatusOK, notice(r))
}

// showManaged renders b's page with status and message (a notice, or why a change was refused).
func (s *Server) showManaged(w http.ResponseWriter, r *http.Request, b domain.Booking, status int, message string) {
	l := leaseOf(r)
	store := s.store(r)
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	svc, err := store.Service(r.Context(), b.ServiceID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	staff, err := store.StaffByIDs(r.Context(), []int64{b.StaffID})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := store.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := manageView{
		Site: site.withZonePicker(r), Service: svc.Name, Staff: staff[b.StaffID].Name,
		When: describeWhen(b.Start, b.End.Sub(b.Start), l.Location), Status: b.Status.Label(),
		Pending: b.Status == domain.StatusPending, Open: b.Status.Open() && b.End.After(time.Now()),
		Price: formatMoney(svc.Price), Email: b.Contact.Email,
		Token: r.PathValue("token"), New: r.URL.Query().Get("new") == "1", Message: message,
	}
	if loc := visitorZoneOf(r, l); loc != nil {
		v.LocalWhen = describeWhen(b.Start, b.End.Sub(b.Start), loc)
	}
	v.GoogleURL, v.OutlookURL = calendarLinks(r, b, svc.Name, l.Tenant.Name, st.Address)
	// The domain's rule decides what the page offers: the same one that refuses a change.
	switch err := store.CheckChangeOnline(r.Context(), b); domain.ErrorCode(err) {
	case domain.ECONFLICT: // cancelled or over: nothing to offer
	case domain.ETOOLATE:
		v.Cutoff = "It is too late to change or cancel this booking online. Please contact the business."
		if st.ContactPhone != "" || st.ContactEmail != "" {
			v.Cutoff += " " + strings.TrimSpace(st.ContactPhone+" "+st.ContactEmail)
		}
	default:
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.CanChange = true
		if st.CancelCutoff > 0 {
			v.Cutoff = "You can change or cancel online until " + b.Start.Add(-st.CancelCutoff).In(l.Location).Format("Monday 2 January 15:04") + "."
		}
	}
	if strings.HasSuffix(r.URL.Path, "/cancel") {
		if v.CanChange {
			render(w, r, status, cancelPage(v))
			return
		}
		if v.Message == "" { // nothing to cancel any more: the booking's page says why
			v.Message = notices["closed"]
			if v.Cutoff != "" {
				v.Message = notices["toolate"]
			}
		}
	}
	render(w, r, status, managePage(v))
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
	details := "Change or cancel: " + manage
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

func (s *Server) cancelBooking(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	token := r.PathValue("token")
	_, err := s.store(r).CancelByToken(r.Context(), domain.ManageToken(token), r.PostFormValue("reason"))
	if err != nil {
		s.refusedChange(w, r, err)
		return
	}
	http.Redirect(w, r, withQuery(paths.Site(l.Tenant.Slug, paths.Manage(token)), url.Values{"msg": {"cancelled"}}), http.StatusSeeOther)
}

// refusedChange answers a cancellation or move of the booking in the path that the domain
// refused: the booking's page with the domain's reason and the error's status (too late,
// already cancelled, a reason too long), 404 for a link that opens no booking; failures are
// logged and answered 500/503.
func (s *Server) refusedChange(w http.ResponseWriter, r *http.Request, err error) {
	status, message, ok := s.userCaused(w, r, err)
	if !ok {
		return
	}
	b, ok := s.managedBooking(w, r)
	if !ok {
		return
	}
	s.showManaged(w, r, b, status, message)
}

// rescheduledService is the service of the booking whose token is in the path, or false when
// the request has been answered already. A booking that can no longer move (cancelled, over,
// past its cutoff) goes back to its page with why, before any day or time is offered.
func (s *Server) rescheduledService(w http.ResponseWriter, r *http.Request) (domain.Service, bool) {
	b, ok := s.managedBooking(w, r)
	if !ok {
		return domain.Service{}, false
	}
	store := s.store(r)
	msg := ""
	err := store.CheckChangeOnline(r.Context(), b)
	switch domain.ErrorCode(err) {
	case domain.ECONFLICT:
		msg = "closed"
	case domain.ETOOLATE:
		msg = "toolate"
	default:
		if err != nil {
			s.fail(w, r, err)
			return domain.Service{}, false
		}
	}
	if msg != "" {
		l := leaseOf(r)
		http.Redirect(w, r, withQuery(paths.Site(l.Tenant.Slug, paths.Manage(r.PathValue("token"))), url.Values{"msg": {msg}}), http.StatusSeeOther)
		return domain.Service{}, false
	}
	svc, err := store.Service(r.Context(), b.ServiceID)
	if err != nil {
		s.fail(w, r, err)
		return svc, false
	}
	return svc, true
}

func (s *Server) rescheduleDays(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.rescheduledService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	base := paths.Site(l.Tenant.Slug, paths.ManageAction(r.PathValue("token"), "reschedule"))
	s.days(w, r, svc, "Choose a new day and time", base, base, true)
}

func (s *Server) rescheduleSlots(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.rescheduledService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	day, slots, ok := s.daySlots(w, r, svc)
	if !ok {
		return
	}
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	base := paths.Site(l.Tenant.Slug, paths.ManageAction(r.PathValue("token"), "reschedule"))
	v := slotsView{Site: site.withZonePicker(r), Title: "Choose a new time", Service: svc.Name,
		Day: day.At(12*60, l.Location).Format("Monday 2 January"), PostURL: base, Message: notice(r),
		BackURL: withQuery(base, keepStaff(r, url.Values{"date": {day.String()}}))}
	visitor := visitorZoneOf(r, l)
	for _, sl := range slots {
		// As when booking: 0 for "anyone", so the move takes whoever is free when it is made.
		sv := slotView{Start: sl.Start.Format(time.RFC3339), Staff: staffParam(r)}
		sv.Label, sv.Alt = slotLabels(sl.Start, l.Location, visitor)
		v.Slots = append(v.Slots, sv)
	}
	render(w, r, http.StatusOK, slotsPage(v))
}

func (s *Server) reschedule(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	token := r.PathValue("token")
	start, err := time.Parse(time.RFC3339, r.PostFormValue("start"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err)
		return
	}
	staffID, _ := strconv.ParseInt(r.PostFormValue("staff"), 10, 64)
	_, err = s.store(r).RescheduleByToken(r.Context(), domain.ManageToken(token), start, staffID)
	manage := paths.Site(l.Tenant.Slug, paths.Manage(token))
	switch domain.ErrorCode(err) {
	case "":
		http.Redirect(w, r, withQuery(manage, url.Values{"msg": {"moved"}}), http.StatusSeeOther)
	case domain.ESLOTUNAVAILABLE:
		// Back to that day's times with the staff member the customer chose (everyone's for
		// "anyone"), as when booking.
		q := url.Values{"date": {domain.DateOf(start.In(l.Location)).String()}, "msg": {lostTime(start)}}
		if staffID != 0 {
			q.Set("staff", strconv.FormatInt(staffID, 10))
		}
		http.Redirect(w, r, withQuery(manage+"/reschedule/slots", q), http.StatusSeeOther)
	case domain.ENOTFOUND:
		if _, err := s.store(r).BookingByToken(r.Context(), domain.ManageToken(token)); err != nil {
			s.errorPage(w, r, http.StatusNotFound, err)
			return
		}
		http.Redirect(w, r, withQuery(manage+"/reschedule", url.Values{"msg": {"unavailable"}}), http.StatusSeeOther)
	default:
		s.refusedChange(w, r, err)
	}
}

func (s *Server) bookingICS(w http.ResponseWriter, r *http.Request) {
	b, ok := s.managedBooking(w, r)
	if !ok {
		return
	}
	ics, err := s.store(r).Calendar(r.Context(), b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="booking.ics"`)
	w.Write([]byte(ics))
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

// staffOption is one choice of who delivers the service.
type staffOption struct {
	Name     string
	URL      string
	Selected bool
}

// daysView is a service's month calendar beside a day's free times (booking or rescheduling).
type daysView struct {
	Site            siteView
	Title           string
	Service         string
	Duration, Price string
	Staff           []staffOption
	Month           monthView
	Day             string // the chosen day, "" for none
	Slots           []slotView
	PostURL         string // set when choosing a time posts (rescheduling)
	Message         string
}

// slotView is one free start time.
type slotView struct {
	Label string // 10:15, in the visitor's zone
	Alt   string // the same in the business's zone, when the visitor's differs
	URL   string // booking: the details form
	Start string // rescheduling: posted
	Staff int64
}

// slotsView lists a day's free times.
type slotsView struct {
	Site         siteView
	Title        string
	Service, Day string
	Slots        []slotView
	PostURL      string // set when choosing a slot posts (rescheduling)
	BackURL      string
	Message      string
}

// detailsView is the customer's details form.
type detailsView struct {
	Site                     siteView
	Service, When, LocalWhen string
	StaffName                string // "" for whoever is free
	Duration, Price          string
	Action                   string
	Start, Staff, Key        string
	Name, Email, Phone, Note string
	TZ                       string // the browser's time zone, filled in by app.js
	// Errors holds a problem code (missing, invalid, long) by field (name, email, phone,
	// notes); the template words them. FirstError is the field that takes the focus.
	Errors     map[string]string
	FirstError string
	Message    string
	// When the chosen time was lost (taken meanwhile, or passed): that day's other free times
	// with the same staff member (anyone's, for "anyone") to choose from, the details kept; or, with none left, where to
	// choose another day.
	Choices      []slotView
	OtherDaysURL string
	Cutoff       string // until when the booking can be changed online, said before booking
}

// manageView is the customer's page for one booking.
type manageView struct {
	Site                 siteView
	Service, Staff, When string
	Price, Email         string
	Status               string
	Pending              bool // awaiting the business's confirmation
	Open                 bool // still to come: worth adding to a calendar
	Token                string
	New                  bool
	Message              string
	CanChange            bool
	Cutoff               string // when changes end online, or that they have
	LocalWhen            string // the time in the customer's own zone, when it differs
	GoogleURL            string
	OutlookURL           string
}
