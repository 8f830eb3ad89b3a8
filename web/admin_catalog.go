package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// Services, staff (with their hours, date overrides and time off) and resources.

type serviceRow struct {
	ID                                 int64
	Name, Duration, Price, URL, Status string
	Capacity                           int
}

type servicesView struct {
	Frame     adminFrame
	Services  []serviceRow
	Form      *form // a new service, or the one being edited
	EditID    int64
	Staff     []option
	Resources []option
	Currency  string
}

func (s *Server) adminServices(w http.ResponseWriter, r *http.Request) {
	s.showServices(w, r, newForm(url.Values{"duration": {"30"}, "price": {"0.00"}, "capacity": {"1"},
		"bufferBefore": {"0"}, "bufferAfter": {"0"}}), 0, http.StatusOK)
}

func (s *Server) showServices(w http.ResponseWriter, r *http.Request, f *form, editID int64, status int) {
	store := s.store(r)
	services, err1 := store.Services(r.Context(), true)
	staff, err2 := store.StaffList(r.Context(), false)
	resources, err3 := store.Resources(r.Context())
	st, err4 := store.Settings(r.Context())
	if err := firstErr(err1, err2, err3, err4); err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "services")
	v := servicesView{Frame: frame, Form: f, EditID: editID, Currency: st.Currency}
	for _, svc := range services {
		status := "active"
		switch {
		case !svc.Active:
			status = "archived"
		case len(svc.StaffIDs) == 0:
			status = "not bookable: nobody offers it"
		}
		v.Services = append(v.Services, serviceRow{ID: svc.ID, Name: svc.Name, Duration: formatDuration(svc.Duration),
			Price: formatMoney(svc.Price), Capacity: svc.Capacity, Status: status, URL: frame.URL(paths.AdminService(svc.ID))})
	}
	for _, m := range staff {
		v.Staff = append(v.Staff, option{strconv.FormatInt(m.ID, 10), m.Name})
	}
	for _, res := range resources {
		if res.Active {
			v.Resources = append(v.Resources, option{strconv.FormatInt(res.ID, 10), res.Name})
		}
	}
	render(w, r, status, servicesPage(v))
}

func (s *Server) adminService(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	svc, err := s.store(r).Service(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f := newForm(url.Values{"name": {svc.Name}, "description": {svc.Description},
		"duration": {strconv.Itoa(int(svc.Duration / time.Minute))}, "price": {formatAmount(svc.Price.Amount)},
		"capacity": {strconv.Itoa(svc.Capacity)}, "bufferBefore": {strconv.Itoa(int(svc.BufferBefore / time.Minute))},
		"bufferAfter": {strconv.Itoa(int(svc.BufferAfter / time.Minute))}})
	for _, id := range svc.StaffIDs {
		f.Values.Add("staffIds", strconv.FormatInt(id, 10))
	}
	for _, id := range svc.ResourceIDs {
		f.Values.Add("resourceIds", strconv.FormatInt(id, 10))
	}
	if svc.Active {
		f.Values.Set("active", "on")
	}
	s.showServices(w, r, f, id, http.StatusOK)
}

// serviceFromForm reads a service; errors are left on f.
func serviceFromForm(f *form, currency string) domain.Service {
	svc := domain.Service{Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description")),
		Duration: time.Duration(f.number("duration", "Duration", 5, 720)) * time.Minute,
		Capacity: int(f.number("capacity", "Capacity", 1, 500)), Active: true,
		BufferBefore: time.Duration(f.number("bufferBefore", "Buffer before", 0, 240)) * time.Minute,
		BufferAfter:  time.Duration(f.number("bufferAfter", "Buffer after", 0, 240)) * time.Minute,
		StaffIDs:     f.ids("staffIds"), ResourceIDs: f.ids("resourceIds")}
	amount, ok := parseMoney(f.Get("price"))
	if !ok {
		f.invalid("price", "price must be an amount such as 25 or 25.50")
	}
	svc.Price = domain.Money{Amount: amount, Currency: currency}
	// No staff yet is allowed: a new business may describe its services first and choose who
	// offers them later (the service is not bookable until then, and the page says so).
	return svc
}

// nobodyOffers is what a notice adds about a service no staff member offers yet.
func nobodyOffers(svc domain.Service) string {
	if len(svc.StaffIDs) > 0 || !svc.Active {
		return ""
	}
	return " Nobody offers it yet: customers can book it once you tick who does."
}

var serviceFieldNames = map[string]string{"price.currency": "price"}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	store := s.store(r)
	st, err := store.Settings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	svc := serviceFromForm(f, st.Currency)
	if f.OK() {
		_, err := store.CreateService(r.Context(), svc)
		if err == nil {
			s.done(w, r, paths.AdminServices, fmt.Sprintf("Service %q added.", svc.Name)+nobodyOffers(svc))
			return
		}
		if !f.fail(err, serviceFieldNames) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showServices(w, r, f, 0, http.StatusUnprocessableEntity)
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	store := s.store(r)
	old, err := store.Service(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	svc := serviceFromForm(f, old.Price.Currency)
	svc.ID, svc.Active = id, f.Checked("active")
	svc.MinNotice, svc.Horizon, svc.SlotStep = old.MinNotice, old.Horizon, old.SlotStep
	if f.OK() {
		err := store.UpdateService(r.Context(), svc)
		if err == nil {
			s.done(w, r, paths.AdminServices, fmt.Sprintf("Service %q saved.", svc.Name)+nobodyOffers(svc))
			return
		}
		if !f.fail(err, serviceFieldNames) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showServices(w, r, f, id, http.StatusUnprocessableEntity)
}

type staffRow struct {
	Name, Email, URL string
	Active           bool
}

type staffListView struct {
	Frame adminFrame
	Staff []staffRow
	Form  *form
}

func (s *Server) adminStaffList(w http.ResponseWriter, r *http.Request) {
	s.showStaffList(w, r, newForm(nil), http.StatusOK)
}

func (s *Server) showStaffList(w http.ResponseWriter, r *http.Request, f *form, status int) {
	staff, err := s.store(r).StaffList(r.Context(), true)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "staff")
	v := staffListView{Frame: frame, Form: f}
	for _, m := range staff {
		v.Staff = append(v.Staff, staffRow{Name: m.Name, Email: m.Email, Active: m.Active, URL: frame.URL(paths.AdminStaff(m.ID))})
	}
	render(w, r, status, staffListPage(v))
}

// defaultHours are a new staff member's: Monday to Friday, 09:00–17:00.
func defaultHours() domain.WeeklyHours {
	var h domain.WeeklyHours
	for d := time.Monday; d <= time.Friday; d++ {
		h[d] = []domain.Interval{{Start: 9 * 60, End: 17 * 60}}
	}
	return h
}

func (s *Server) createStaff(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	st := domain.Staff{Name: strings.TrimSpace(f.Get("name")), Email: strings.TrimSpace(f.Get("email")), Active: true, Hours: defaultHours()}
	id, err := s.store(r).CreateStaff(r.Context(), st)
	if err == nil {
		s.done(w, r, paths.AdminStaff(id), fmt.Sprintf("%s added, working Monday to Friday 09:00–17:00: change the hours below.", st.Name))
		return
	}
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	s.showStaffList(w, r, f, http.StatusUnprocessableEntity)
}

type overrideRow struct {
	Date, Hours, DeleteURL string
}

type timeOffRow struct {
	From, To, Reason, DeleteURL string
}

type staffView struct {
	Frame     adminFrame
	ID        int64
	Name      string
	Details   *form // name, email, active and the weekly hours
	Hours     []hoursDay
	Edited    bool // an add or remove button showed the form again: not saved yet
	Overrides []overrideRow
	Override  *form
	TimeOff   []timeOffRow
	Away      *form
}

// weekdays in the order a week is shown: Monday first.
var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

func hoursField(d time.Weekday) string { return "hours-" + strings.ToLower(d.String()[:3]) }

func (s *Server) adminStaff(w http.ResponseWriter, r *http.Request) {
	s.showStaff(w, r, nil, nil, nil, http.StatusOK)
}

func (s *Server) showStaff(w http.ResponseWriter, r *http.Request, details, override, away *form, status int) {
	l := leaseOf(r)
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	store := s.store(r)
	m, err := store.StaffMember(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	overrides, timeOff, err := s.staffExceptions(r, id)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "staff")
	v := staffView{Frame: frame, ID: id, Name: m.Name, Details: details, Override: override, Away: away,
		Edited: details != nil && (details.Get("add") != "" || details.Get("remove") != "")}
	if v.Details == nil {
		v.Details = newForm(url.Values{"name": {m.Name}, "email": {m.Email}})
		if m.Active {
			v.Details.Values.Set("active", "on")
		}
		hoursValues(v.Details.Values, m.Hours)
	}
	v.Hours = hoursDays(v.Details)
	if v.Override == nil {
		v.Override = newForm(nil)
	}
	if v.Away == nil {
		today := domain.DateOf(time.Now().In(l.Location)).String()
		v.Away = newForm(url.Values{"fromDate": {today}, "fromTime": {"00:00"}, "toDate": {today}, "toTime": {"23:59"}})
	}
	for _, o := range overrides {
		hours := formatIntervals(o.Intervals)
		if hours == "" {
			hours = "closed"
		}
		v.Overrides = append(v.Overrides, overrideRow{Date: o.Date.String(), Hours: hours, DeleteURL: frame.URL(paths.AdminStaffOverrideDelete(id, o.Date.String()))})
	}
	for _, t := range timeOff {
		v.TimeOff = append(v.TimeOff, timeOffRow{From: t.Start.In(l.Location).Format("Mon 2 Jan 2006 15:04"),
			To: t.End.In(l.Location).Format("Mon 2 Jan 2006 15:04"), Reason: t.Reason, DeleteURL: frame.URL(paths.AdminStaffTimeOffDelete(id, t.ID))})
	}
	render(w, r, status, staffPage(v))
}

// staffExceptions reads a staff member's date overrides and time off from today on.
func (s *Server) staffExceptions(r *http.Request, id int64) ([]domain.DateOverride, []domain.TimeOff, error) {
	l := leaseOf(r)
	store := s.store(r)
	overrides, err := store.DateOverrides(r.Context(), id, domain.DateOf(time.Now().In(l.Location)))
	if err != nil {
		return nil, nil, err
	}
	timeOff, err := store.TimeOffList(r.Context(), id, time.Now())
	return overrides, timeOff, err
}

// updateStaff saves a staff member's details and weekly hours.
func (s *Server) updateStaff(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	if editHours(f) {
		s.showStaff(w, r, f, nil, nil, http.StatusOK)
		return
	}
	st := domain.Staff{ID: id, Name: strings.TrimSpace(f.Get("name")), Email: strings.TrimSpace(f.Get("email")), Active: f.Checked("active"),
		Hours: hoursFromForm(f)}
	if viewerOf(r).Role != domain.RoleOwner {
		// A staff user edits their hours only; who they are and whether they take bookings is
		// the owner's to say.
		cur, err := s.store(r).StaffMember(r.Context(), id)
		if err != nil {
			s.userError(w, r, err, paths.AdminStaff(id))
			return
		}
		st.Name, st.Email, st.Active = cur.Name, cur.Email, cur.Active
	}
	if f.OK() {
		err := s.store(r).UpdateStaff(r.Context(), st)
		if err == nil {
			s.done(w, r, paths.AdminStaff(id), "Saved.")
			return
		}
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			s.notFound(w, r)
			return
		}
		// Hours errors name the weekday: "hours.Monday", say.
		fields := map[string]string{}
		for _, d := range weekdays {
			fields["hours."+d.String()] = hoursField(d)
		}
		if !f.fail(err, fields) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showStaff(w, r, f, nil, nil, http.StatusUnprocessableEntity)
}

func (s *Server) addOverride(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	day := f.date("date")
	ivs := overrideFromForm(f)
	if f.OK() {
		err := s.store(r).SetDateOverride(r.Context(), domain.DateOverride{StaffID: id, Date: day, Intervals: ivs})
		if err == nil {
			msg := fmt.Sprintf("Hours for %s set.", day)
			if len(ivs) == 0 {
				msg = fmt.Sprintf("Closed on %s.", day)
			}
			s.done(w, r, paths.AdminStaff(id), msg)
			return
		}
		if !f.fail(err, map[string]string{"intervals": "hours"}) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showStaff(w, r, nil, f, nil, http.StatusUnprocessableEntity)
}

func (s *Server) deleteOverride(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	day, err := domain.ParseDate(r.PathValue("date"))
	if !ok || err != nil {
		s.notFound(w, r)
		return
	}
	if err := s.store(r).DeleteDateOverride(r.Context(), id, day); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.done(w, r, paths.AdminStaff(id), fmt.Sprintf("Back to the usual hours on %s.", day))
}

func (s *Server) addTimeOff(w http.ResponseWriter, r *http.Request) {
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
	fromDay, fromAt := f.date("fromDate"), f.clockTime("fromTime")
	toDay, toAt := f.date("toDate"), f.clockTime("toTime")
	if f.OK() {
		_, err := s.store(r).AddTimeOff(r.Context(), domain.TimeOff{StaffID: id, Start: fromDay.At(fromAt, l.Location),
			End: toDay.At(toAt, l.Location), Reason: strings.TrimSpace(f.Get("reason"))})
		if err == nil {
			s.done(w, r, paths.AdminStaff(id), "Time off added.")
			return
		}
		if !f.fail(err, map[string]string{"end": "toTime"}) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showStaff(w, r, nil, nil, f, http.StatusUnprocessableEntity)
}

func (s *Server) deleteTimeOff(w http.ResponseWriter, r *http.Request) {
	id, ok1 := pathID(r, "id")
	tid, ok2 := pathID(r, "tid")
	if !ok1 || !ok2 {
		s.notFound(w, r)
		return
	}
	store := s.store(r)
	// The time off must be this staff member's: the URL names both.
	list, err := store.TimeOffList(r.Context(), id, time.Time{})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	found := false
	for _, t := range list {
		found = found || t.ID == tid
	}
	if !found {
		s.notFound(w, r)
		return
	}
	if err := store.DeleteTimeOff(r.Context(), tid); err != nil {
		s.userError(w, r, err, paths.AdminStaff(id))
		return
	}
	s.done(w, r, paths.AdminStaff(id), "Time off removed.")
}

type resourcesView struct {
	Frame     adminFrame
	Resources []string
	Form      *form
}

func (s *Server) adminResources(w http.ResponseWriter, r *http.Request) {
	s.showResources(w, r, newForm(nil), http.StatusOK)
}

func (s *Server) showResources(w http.ResponseWriter, r *http.Request, f *form, status int) {
	list, err := s.store(r).Resources(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := resourcesView{Frame: s.frame(r, "resources"), Form: f}
	for _, res := range list {
		v.Resources = append(v.Resources, res.Name)
	}
	render(w, r, status, resourcesPage(v))
}

func (s *Server) createResource(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	name := strings.TrimSpace(f.Get("name"))
	_, err := s.store(r).CreateResource(r.Context(), name)
	if err == nil {
		s.done(w, r, paths.AdminResources, fmt.Sprintf("Resource %q added: choose it on the services that need it.", name))
		return
	}
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	s.showResources(w, r, f, http.StatusUnprocessableEntity)
}
