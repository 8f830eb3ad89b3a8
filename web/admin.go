package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// The dashboard: server-rendered pages over the same domain store the GraphQL API uses. Pages
// that change something are POST forms that redirect back (with a one-time notice in the
// session) or show the form again with its errors and the values given.

// adminFrame is what every dashboard page shows around its content.
type adminFrame struct {
	Business, Slug string
	User           string
	Owner          bool
	StaffID        int64  // the staff member the user is (0: none): their hours page is theirs to edit
	Active         string // the nav entry of the page
	Flash          string
	Brand          string
}

func (f adminFrame) URL(path string) string { return paths.Admin(f.Slug, path) }

func (s *Server) frame(r *http.Request, active string) adminFrame {
	l := leaseOf(r)
	v := viewerOf(r)
	f := adminFrame{Business: l.Tenant.Name, Slug: l.Tenant.Slug, User: v.Name, Owner: v.Role == domain.RoleOwner, StaffID: v.StaffID,
		Active: active, Flash: s.sessions(r).PopString(r.Context(), "flash")}
	if b, err := s.store(r).Branding(r.Context()); err == nil {
		f.Brand = b.Color
	}
	return f
}

// done shows msg on the next page and sends the browser to path (below the dashboard).
func (s *Server) done(w http.ResponseWriter, r *http.Request, path, msg string) {
	l := leaseOf(r)
	if msg != "" {
		s.sessions(r).Put(r.Context(), "flash", msg)
	}
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, path), http.StatusSeeOther)
}

// requireOwner lets only owners through; staff users get a 403 page.
func (s *Server) requireOwner(next http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if v := viewerOf(r); v.Role != domain.RoleOwner {
			render(w, r, http.StatusForbidden, errorPage(errorView{Status: http.StatusForbidden, Title: "Owners only",
				Message: "Only the business's owners can open this page."}))
			return
		}
		next(w, r)
	})
}

// requireStaffSelf lets owners through, and a staff user to the pages of the staff member
// they are (path id): their own hours, date overrides and time off, no one else's.
func (s *Server) requireStaffSelf(next http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		v := viewerOf(r)
		if id, ok := pathID(r, "id"); v.Role != domain.RoleOwner && (!ok || v.StaffID == 0 || v.StaffID != id) {
			render(w, r, http.StatusForbidden, errorPage(errorView{Status: http.StatusForbidden, Title: "Not your schedule",
				Message: "You can change only your own hours and time off. An owner can change everyone's."}))
			return
		}
		next(w, r)
	})
}

func actorOf(r *http.Request) domain.Actor {
	v := viewerOf(r)
	return domain.StaffActor(v.Name)
}

// userError answers a failed action: a user's mistake goes back to page with its message, any
// other error is the server's.
func (s *Server) userError(w http.ResponseWriter, r *http.Request, err error, back string) {
	status, _, ok := s.userCaused(w, r, err)
	if !ok {
		return
	}
	if status == http.StatusNotFound && back == "" {
		s.notFound(w, r)
		return
	}
	s.done(w, r, back, "Not done: "+domain.ErrorMessage(err))
}

// contactLine says how to reach a customer: their email and phone, those they gave (a booking
// taken by phone may have no email).
func contactLine(email, phone string) string {
	return strings.Join(slices.DeleteFunc([]string{email, phone}, func(s string) bool { return s == "" }), " · ")
}

// bookingAction confirms, completes, marks as no-show, reopens or cancels a booking, then goes
// back to where the form was (the calendar or the booking's page).
func (s *Server) bookingAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	store, actor := s.store(r), actorOf(r)
	var err error
	msg := ""
	switch r.PathValue("action") {
	case "confirm":
		_, err = store.Confirm(r.Context(), id, actor)
		msg = "Booking confirmed."
	case "complete":
		_, err = store.Complete(r.Context(), id, actor)
		msg = "Booking marked as completed."
	case "no-show":
		_, err = store.NoShow(r.Context(), id, actor)
		msg = "Booking marked as a no-show."
	case "reopen":
		_, err = store.Reopen(r.Context(), id, actor)
		msg = "Booking reopened."
	case "cancel":
		_, err = store.Cancel(r.Context(), id, strings.TrimSpace(r.PostFormValue("reason")), actor)
		msg = "Booking cancelled; the customer is told by email."
	default:
		s.notFound(w, r)
		return
	}
	l := leaseOf(r)
	back := safeBack(r.PostFormValue("back"), paths.Admin(l.Tenant.Slug, paths.AdminHome), paths.AdminBooking(id))
	if err != nil {
		s.userError(w, r, err, back)
		return
	}
	s.done(w, r, back, msg)
}

// safeBack returns a return path below the dashboard at prefix, relative to it, or fallback:
// a form cannot send the browser to another site or business.
func safeBack(back, prefix, fallback string) string {
	p, query, _ := strings.Cut(back, "?")
	if query != "" {
		query = "?" + query
	}
	// Cleaned first, as the redirect will be: /acme/admin/../../other is not below /acme/admin.
	if p = path.Clean(p); p == prefix {
		p += "/"
	}
	rest, ok := strings.CutPrefix(p, prefix+"/")
	if !ok || strings.ContainsAny(back, "\\\r\n") {
		return fallback
	}
	return "/" + rest + query
}

type bookingDetailView struct {
	Frame    adminFrame
	Booking  calendarBooking
	When     string
	Events   []eventView
	Move     *form
	Staff    []option
	Created  string
	Customer string // the customer's page
}

type eventView struct{ At, Type, Actor string }

func (s *Server) adminBooking(w http.ResponseWriter, r *http.Request) {
	s.showBooking(w, r, nil, http.StatusOK)
}

func (s *Server) showBooking(w http.ResponseWriter, r *http.Request, move *form, status int) {
	l := leaseOf(r)
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	store, loc := s.store(r), l.Location
	b, err := store.Booking(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	svc, err1 := store.Service(r.Context(), b.ServiceID)
	st, err2 := store.StaffMember(r.Context(), b.StaffID)
	events, err3 := store.Events(r.Context(), b.ID)
	staff, err4 := store.StaffByIDs(r.Context(), svc.StaffIDs)
	if err := firstErr(err1, err2, err3, err4); err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "calendar")
	v := bookingDetailView{Frame: frame, Booking: s.calendarBooking(frame, b, svc.Name, st.Name, loc),
		When: describeWhen(b.Start, b.End.Sub(b.Start), loc), Created: b.CreatedAt.In(loc).Format("2 Jan 2006 15:04"),
		Customer: frame.URL(paths.AdminCustomer(b.CustomerID)), Move: move}
	if v.Move == nil {
		start := b.Start.In(loc)
		v.Move = newForm(url.Values{"date": {start.Format(time.DateOnly)}, "time": {start.Format("15:04")},
			"staff": {strconv.FormatInt(b.StaffID, 10)}})
	}
	for _, sid := range svc.StaffIDs {
		if m, ok := staff[sid]; ok && m.Active {
			v.Staff = append(v.Staff, option{strconv.FormatInt(sid, 10), m.Name})
		}
	}
	for _, e := range events {
		v.Events = append(v.Events, eventView{At: e.At.In(loc).Format("2 Jan 15:04"), Type: strings.ReplaceAll(string(e.Type), "_", " "), Actor: string(e.Actor)})
	}
	render(w, r, status, bookingDetailPage(v))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// moveBooking moves a booking to another time (and staff member) on the customer's behalf.
func (s *Server) moveBooking(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	day, at := f.date("date"), f.clockTime("time")
	staffID, _ := strconv.ParseInt(f.Get("staff"), 10, 64)
	const moved = "Booking moved; the customer is told by email."
	if f.OK() {
		_, err := s.store(r).Move(r.Context(), id, day.At(at, l.Location), staffID, actorOf(r))
		if err == nil {
			if wantsJSON(r) {
				writeJSON(w, http.StatusOK, moveAnswer{OK: true, Message: moved})
				return
			}
			s.done(w, r, paths.AdminBooking(id), moved)
			return
		}
		if domain.ErrorCode(err) == domain.ESLOTUNAVAILABLE {
			f.invalid("time", "That time is not free: %s", domain.ErrorMessage(err))
		} else if domain.ErrorCode(err) == domain.ENOTFOUND && wantsJSON(r) {
			writeJSON(w, http.StatusNotFound, moveAnswer{Message: "This booking no longer exists."})
			return
		} else if !f.fail(err, map[string]string{"start": "time", "staffId": "staff"}) {
			s.serverError(w, r, err)
			return
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusUnprocessableEntity, moveAnswer{Message: "Not moved: " + f.Summary()})
		return
	}
	s.showBooking(w, r, f, http.StatusUnprocessableEntity)
}

// moveAnswer is what the calendar's script gets back when it moves a booking it was dragged.
type moveAnswer struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// wantsJSON reports whether the request comes from the dashboard's script (fetch with an
// Accept of JSON) rather than a form: the same route answers both.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // headers are sent: a client that left needs no answer
}

type newBookingView struct {
	Frame    adminFrame
	Form     *form
	Services []option
	Staff    []option
}

func (s *Server) newBookingForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The calendar's empty time links here with its date, time and staff member.
	f := newForm(url.Values{"date": {q.Get("date")}, "service": {q.Get("service")}, "time": {"09:00"}, "staff": {q.Get("staff")}})
	if m, ok := domain.ParseClock(q.Get("time")); ok && m < 24*60 {
		f.Values.Set("time", formatClock(m))
	}
	if f.Get("date") == "" {
		l := leaseOf(r)
		f.Values.Set("date", domain.DateOf(time.Now().In(l.Location)).String())
	}
	s.showNewBooking(w, r, f, http.StatusOK)
}

func (s *Server) showNewBooking(w http.ResponseWriter, r *http.Request, f *form, status int) {
	store := s.store(r)
	services, err1 := store.Services(r.Context(), false)
	staff, err2 := store.StaffList(r.Context(), false)
	if err := firstErr(err1, err2); err != nil {
		s.serverError(w, r, err)
		return
	}
	v := newBookingView{Frame: s.frame(r, "calendar"), Form: f}
	for _, svc := range services {
		v.Services = append(v.Services, option{strconv.FormatInt(svc.ID, 10), svc.Name + " (" + formatDuration(svc.Duration) + ")"})
	}
	v.Staff = append(v.Staff, option{"", "Anyone free"})
	for _, st := range staff {
		v.Staff = append(v.Staff, option{strconv.FormatInt(st.ID, 10), st.Name})
	}
	render(w, r, status, newBookingPage(v))
}

// createBookingFor books a service for a customer from the dashboard: the minimum notice does
// not apply, an overlap still does.
func (s *Server) createBookingFor(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	day, at := f.date("date"), f.clockTime("time")
	serviceID, err := strconv.ParseInt(f.Get("service"), 10, 64)
	if err != nil {
		f.invalid("service", "choose a service")
	}
	staffID, _ := strconv.ParseInt(f.Get("staff"), 10, 64)
	if f.OK() {
		b, _, err := s.store(r).CreateBooking(r.Context(), domain.BookingRequest{ServiceID: serviceID, StaffID: staffID,
			Start: day.At(at, l.Location), Notes: strings.TrimSpace(f.Get("notes")), OnBehalf: true, Actor: actorOf(r),
			Customer: domain.Customer{Name: f.Get("name"), Email: f.Get("email"), Phone: f.Get("phone")}})
		if err == nil {
			msg := "Booking created; the customer gets a confirmation email."
			if b.Contact.Email == "" {
				msg = "Booking created. The customer gave no email, so they get no confirmation."
			}
			s.done(w, r, paths.AdminCalendar+"?date="+domain.DateOf(b.Start.In(l.Location)).String(), msg)
			return
		}
		if domain.ErrorCode(err) == domain.ESLOTUNAVAILABLE {
			f.invalid("time", "That time is not free: %s", domain.ErrorMessage(err))
		} else if !f.fail(err, map[string]string{"customer.name": "name", "customer.email": "email", "customer.phone": "phone",
			"name": "name", "email": "email", "phone": "phone", "serviceId": "service", "staffId": "staff", "start": "time"}) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showNewBooking(w, r, f, http.StatusUnprocessableEntity)
}
