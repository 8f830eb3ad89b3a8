package web

import (
	"net/http"
	"slices"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// setupStep is one step of a new business's checklist on the dashboard home, done or not from
// what the business's data holds (not from a flag someone could forget to set).
type setupStep struct {
	Key, Title, Hint string
	URL, Action      string // where to do it, and the link's words
	Done             bool
}

// setupSteps are the first steps of a business in order: staff, their hours, services, then
// sharing the booking link (done once anyone has booked). siteURL is the booking site's
// address as the owner's browser reaches it.
func setupSteps(f adminFrame, staff []domain.Staff, services []domain.Service, booked bool, siteURL string) []setupStep {
	active := slices.DeleteFunc(slices.Clone(staff), func(st domain.Staff) bool { return !st.Active })
	hours := slices.ContainsFunc(active, func(st domain.Staff) bool {
		return slices.ContainsFunc(st.Hours[:], func(ivs []domain.Interval) bool { return len(ivs) > 0 })
	})
	offered := slices.ContainsFunc(services, func(svc domain.Service) bool { return svc.Active && len(svc.StaffIDs) > 0 })
	hoursURL := f.URL(paths.AdminStaffList)
	if len(active) > 0 {
		hoursURL = f.URL(paths.AdminStaff(active[0].ID))
	}
	return []setupStep{
		{Key: "staff", Title: "Add the people who take bookings", Hint: "Yourself too, if you take bookings.",
			URL: f.URL(paths.AdminStaffList), Action: "Add staff", Done: len(active) > 0},
		{Key: "hours", Title: "Set their working hours", Hint: "Customers can book only within them; breaks are the gaps.",
			URL: hoursURL, Action: "Set hours", Done: hours},
		{Key: "services", Title: "Add a service and choose who offers it", Hint: "What customers book: its length and price.",
			URL: f.URL(paths.AdminServices), Action: "Add a service", Done: offered},
		{Key: "share", Title: "Share your booking link", Hint: "Put it on your website, social profiles and email signature: " + siteURL,
			URL: siteURL, Action: "Open your booking site", Done: booked},
	}
}

// siteURL is the absolute address of the business's booking site as this request reached it.
func siteURL(r *http.Request, slug string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + paths.Site(slug, "")
}

// adminHome is the calendar, with a new business's setup checklist above it for owners until
// every step is done.
func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) {
	v, ok := s.calendar(w, r)
	if !ok {
		return
	}
	if v.Frame.Owner {
		store := s.store(r)
		staff, err1 := store.StaffList(r.Context(), false)
		services, err2 := store.Services(r.Context(), false)
		first, err3 := store.Bookings(r.Context(), domain.BookingFilter{Limit: 1})
		if err := firstErr(err1, err2, err3); err != nil {
			s.serverError(w, r, err)
			return
		}
		steps := setupSteps(v.Frame, staff, services, len(first) > 0, siteURL(r, v.Frame.Slug))
		if slices.ContainsFunc(steps, func(st setupStep) bool { return !st.Done }) {
			v.Setup = steps
		}
	}
	render(w, r, http.StatusOK, calendarPage(v))
}
