package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/paths"
)

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
		When: whenIn(r.Context(), b.Start, b.End.Sub(b.Start), l.Location), Status: tr(r.Context(), "status."+string(b.Status)),
		Pending: b.Status == domain.StatusPending, Open: b.Status.Open() && b.End.After(time.Now()),
		Price: i18n.From(r.Context()).Money(svc.Price.Amount, svc.Price.Currency), Email: b.Contact.Email,
		Token: r.PathValue("token"), New: r.URL.Query().Get("new") == "1", Message: message,
	}
	if loc := visitorZoneOf(r, l); loc != nil {
		v.LocalWhen = whenIn(r.Context(), b.Start, b.End.Sub(b.Start), loc)
	}
	v.GoogleURL, v.OutlookURL = calendarLinks(r, b, svc.Name, l.Tenant.Name, st.Address)
	// The domain's rule decides what the page offers: the same one that refuses a change.
	switch err := store.CheckChangeOnline(r.Context(), b); domain.ErrorCode(err) {
	case domain.ECONFLICT: // cancelled or over: nothing to offer
	case domain.ETOOLATE:
		v.Cutoff = tr(r.Context(), "manage.too_late")
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
			v.Cutoff = tr(r.Context(), "manage.until", map[string]any{"When": i18n.From(r.Context()).DayTime(b.Start.Add(-st.CancelCutoff).In(l.Location))})
		}
	}
	if strings.HasSuffix(r.URL.Path, "/cancel") {
		if v.CanChange {
			render(w, r, status, cancelPage(v))
			return
		}
		if v.Message == "" { // nothing to cancel any more: the booking's page says why
			v.Message = noticeText(r.Context(), "closed")
			if v.Cutoff != "" {
				v.Message = noticeText(r.Context(), "toolate")
			}
		}
	}
	render(w, r, status, managePage(v))
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
	message = refusalText(r.Context(), err, message)
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
	s.days(w, r, svc, tr(r.Context(), "title.choose_new_day_time"), base, base, true)
}

func (s *Server) rescheduleSlots(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.rescheduledService(w, r)
	if !ok {
		return
	}
	l := leaseOf(r)
	base := paths.Site(l.Tenant.Slug, paths.ManageAction(r.PathValue("token"), "reschedule"))
	s.slots(w, r, svc, tr(r.Context(), "title.choose_new_time"), base, base)
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
	// The entry links back to this booking's page, at the address the customer used, and speaks
	// the page's language.
	l := leaseOf(r)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	link := scheme + "://" + r.Host + paths.Site(l.Tenant.Slug, paths.Manage(r.PathValue("token")))
	ics, err := s.store(r).Calendar(r.Context(), b, i18n.From(r.Context()).Lang(), l.Tenant.Name, link)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="booking.ics"`)
	w.Write([]byte(ics))
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
