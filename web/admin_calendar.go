package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// calendarBooking is one booking as the calendar shows it.
type calendarBooking struct {
	ID                   int64
	Time, Service, Staff string
	Customer, Contact    string
	Status, Notes        string
	StatusLabel          string // no-show, not no_show
	Open, Pending        bool
	Started              bool // an outcome (completed, no-show) can be marked
	Outcome              bool // it has one, which can be taken back
	URL                  string
}

// gridBlock is a shaded span of a column: working hours, a break, time off, a day off.
type gridBlock struct {
	Kind  string // work, break, away, off
	Label string
	Style string
	Link  string // work: a new booking at its start (the script picks the clicked time)
}

// gridCard is a booking placed in a column.
type gridCard struct {
	calendarBooking
	Style    string
	PanelURL string // this view with the booking open in the side panel
	Start    int    // wall-clock minutes, for the script
	Minutes  int
	StaffID  int64 // who it is with: a drag in the week view keeps them
	Selected bool
}

// gridColumn is one staff member on one day.
type gridColumn struct {
	TestID  string // cal-staff (day view) or cal-day (week view)
	Title   string
	Date    string
	StaffID int64 // 0: everyone (a week without a staff filter)
	Lanes   int
	Blocks  []gridBlock
	Cards   []gridCard
}

// bookingPanel is the booking opened beside the grid, with its actions.
type bookingPanel struct {
	Booking  calendarBooking
	When     string
	Back     string // where its actions return to: this view, the panel still open
	CloseURL string
}

type calendarView struct {
	Frame                   adminFrame
	View                    string // day or week
	Title                   string
	Date                    string
	Zone                    string
	Staff                   []option
	StaffID                 string
	Window                  gridWindow
	Columns                 []gridColumn
	PrevURL, NextURL        string
	DayURL, WeekURL, NewURL string
	TodayURL                string
	Panel                   *bookingPanel
	Empty                   bool
	NoStaff                 bool
	Setup                   []setupStep // a new business's first steps; nil once done
}

// HourStyle places an hour's label on the side.
func (v calendarView) HourStyle(m int) string {
	row, span, _ := v.Window.gridPlace(domain.Interval{Start: m, End: m + 60})
	return gridStyle(row, span, 0)
}

type option struct {
	Value, Label string
}

// columnSource is what one column shows before placement.
type columnSource struct {
	col      gridColumn
	day      domain.Date
	hours    []domain.Interval // working hours on day
	breaks   bool              // shade the gaps as breaks (one person's hours)
	timeOff  []domain.TimeOff
	bookings []domain.Booking
}

// adminCalendar shows the time grid of a day (a column per staff member) or a week (a column
// per day, for everyone or one staff member), with the booking asked for (?booking=ID) in a
// side panel.
func (s *Server) adminCalendar(w http.ResponseWriter, r *http.Request) {
	v, ok := s.calendar(w, r)
	if ok {
		render(w, r, http.StatusOK, calendarPage(v))
	}
}

// calendar builds the calendar's view of r; it answers the request itself when it fails.
func (s *Server) calendar(w http.ResponseWriter, r *http.Request) (calendarView, bool) {
	l := leaseOf(r)
	store, loc, q := s.store(r), l.Location, r.URL.Query()
	today := domain.DateOf(time.Now().In(loc))
	day, err := domain.ParseDate(q.Get("date"))
	if err != nil {
		day = today
	}
	view, n := "day", 1
	if q.Get("view") == "week" {
		view, n = "week", 7
		day = day.AddDays(-((int(day.Weekday()) + 6) % 7))
	}
	staffID, _ := strconv.ParseInt(q.Get("staff"), 10, 64)
	staff, err1 := store.StaffList(r.Context(), true)
	services, err2 := store.Services(r.Context(), true)
	if err := firstErr(err1, err2); err != nil {
		s.serverError(w, r, err)
		return calendarView{}, false
	}
	svcName := map[int64]string{}
	for _, svc := range services {
		svcName[svc.ID] = svc.Name
	}
	staffName := map[int64]string{}
	for _, st := range staff {
		staffName[st.ID] = st.Name
	}
	from, to := day.At(0, loc), day.AddDays(n).At(0, loc)
	var bookings []domain.Booking
	f := domain.BookingFilter{From: from, To: to, StaffID: staffID, Limit: 500}
	for {
		page, err := store.Bookings(r.Context(), f)
		if err != nil {
			s.serverError(w, r, err)
			return calendarView{}, false
		}
		bookings = append(bookings, page...)
		if len(page) < f.Limit {
			break
		}
		c := page[len(page)-1].Cursor()
		f.After = &c
	}

	frame := s.frame(r, "calendar")
	v := calendarView{Frame: frame, View: view, Date: day.String(), Zone: loc.String(), StaffID: q.Get("staff"),
		Empty: len(bookings) == 0, NoStaff: len(staff) == 0}
	v.Staff = append(v.Staff, option{"", "Everyone"})
	for _, st := range staff {
		v.Staff = append(v.Staff, option{strconv.FormatInt(st.ID, 10), st.Name})
	}
	link := func(d domain.Date, view string) string {
		vals := url.Values{"date": {d.String()}, "view": {view}}
		if staffID != 0 {
			vals.Set("staff", strconv.FormatInt(staffID, 10))
		}
		return frame.URL(paths.AdminCalendar + "?" + vals.Encode())
	}
	here := link(day, view)
	v.PrevURL, v.NextURL, v.TodayURL = link(day.AddDays(-n), view), link(day.AddDays(n), view), link(today, view)
	v.DayURL, v.WeekURL = link(day, "day"), link(day, "week")
	v.NewURL = frame.URL(paths.AdminNewBooking + "?date=" + day.String())
	first := day.At(12*60, loc)
	v.Title = first.Format("Monday 2 January 2006")
	if view == "week" {
		v.Title = "Week of " + first.Format("2 January 2006")
	}

	// Each staff member's hours on each day: a date override, or the weekly hours.
	hoursOn := map[int64]func(domain.Date) []domain.Interval{}
	timeOff := map[int64][]domain.TimeOff{}
	for _, st := range staff {
		if staffID != 0 && st.ID != staffID {
			continue
		}
		overrides, err1 := store.DateOverrides(r.Context(), st.ID, day)
		away, err2 := store.TimeOffList(r.Context(), st.ID, from)
		if err := firstErr(err1, err2); err != nil {
			s.serverError(w, r, err)
			return calendarView{}, false
		}
		byDate := map[domain.Date][]domain.Interval{}
		for _, o := range overrides {
			byDate[o.Date] = o.Intervals
		}
		hours := st.Hours
		hoursOn[st.ID] = func(d domain.Date) []domain.Interval {
			if ivs, ok := byDate[d]; ok {
				return ivs
			}
			return hours[d.Weekday()]
		}
		for _, t := range away {
			if t.Start.Before(to) {
				timeOff[st.ID] = append(timeOff[st.ID], t)
			}
		}
	}

	var sources []columnSource
	if view == "day" {
		for _, st := range staff {
			if staffID != 0 && st.ID != staffID {
				continue
			}
			src := columnSource{col: gridColumn{TestID: "cal-staff", Title: st.Name, Date: day.String(), StaffID: st.ID},
				day: day, hours: hoursOn[st.ID](day), breaks: true, timeOff: timeOff[st.ID]}
			for _, b := range bookings {
				if b.StaffID == st.ID {
					src.bookings = append(src.bookings, b)
				}
			}
			// A staff member no longer active shows only to keep their bookings in sight.
			if st.Active || len(src.bookings) > 0 {
				sources = append(sources, src)
			}
		}
	} else {
		for i := range n {
			d := day.AddDays(i)
			src := columnSource{col: gridColumn{TestID: "cal-day", Title: d.At(12*60, loc).Format("Mon 2 Jan"), Date: d.String(), StaffID: staffID}, day: d}
			for _, st := range staff {
				if hoursOn[st.ID] != nil && (st.Active || staffID != 0) {
					src.hours = append(src.hours, hoursOn[st.ID](d)...)
				}
			}
			if staffID != 0 {
				src.breaks, src.timeOff = true, timeOff[staffID]
			} else {
				src.hours = unionIntervals(src.hours)
			}
			for _, b := range bookings {
				if _, ok := wallSpan(d, b.Start, b.End, loc); ok && domain.DateOf(b.Start.In(loc)) == d {
					src.bookings = append(src.bookings, b)
				}
			}
			sources = append(sources, src)
		}
	}

	// The window holds every column's hours and bookings.
	var spans []domain.Interval
	for _, src := range sources {
		spans = append(spans, src.hours...)
		for _, b := range src.bookings {
			if iv, ok := wallSpan(src.day, b.Start, b.End, loc); ok {
				spans = append(spans, iv)
			}
		}
	}
	v.Window = gridRange(spans)
	selected, _ := strconv.ParseInt(q.Get("booking"), 10, 64)
	for _, src := range sources {
		v.Columns = append(v.Columns, s.placeColumn(frame, src, v.Window, loc, svcName, staffName, here, view == "week" && staffID == 0, selected))
	}

	if selected != 0 {
		b, err := store.Booking(r.Context(), selected)
		switch {
		case domain.ErrorCode(err) == domain.ENOTFOUND:
			// A booking that is gone (or never was) just leaves the panel closed.
		case err != nil:
			s.serverError(w, r, err)
			return calendarView{}, false
		default:
			name := svcName[b.ServiceID]
			cb := s.calendarBooking(frame, b, name, staffName[b.StaffID], loc)
			v.Panel = &bookingPanel{Booking: cb, When: describeWhen(b.Start, b.End.Sub(b.Start), loc),
				Back: here + "&booking=" + strconv.FormatInt(b.ID, 10), CloseURL: here}
		}
	}
	return v, true
}

// placeColumn places a column's shading and bookings in window w.
func (s *Server) placeColumn(f adminFrame, src columnSource, w gridWindow, loc *time.Location, svcName, staffName map[int64]string,
	here string, withStaff bool, selected int64) gridColumn {
	col := src.col
	newAt := func(minute int) string {
		vals := url.Values{"date": {src.day.String()}, "time": {formatClock(minute)}}
		if col.StaffID != 0 {
			vals.Set("staff", strconv.FormatInt(col.StaffID, 10))
		}
		return f.URL(paths.AdminNewBooking + "?" + vals.Encode())
	}
	block := func(kind, label string, iv domain.Interval, link string) {
		if row, span, ok := w.gridPlace(iv); ok {
			col.Blocks = append(col.Blocks, gridBlock{Kind: kind, Label: label, Style: gridStyle(row, span, 0), Link: link})
		}
	}
	if len(src.hours) == 0 {
		block("off", "Day off", domain.Interval{Start: w.From, End: w.To}, "")
	}
	for _, iv := range src.hours {
		block("work", "", iv, newAt(max(iv.Start, w.From)))
	}
	if src.breaks {
		for _, iv := range gaps(src.hours) {
			block("break", "Break", iv, "")
		}
	}
	for _, t := range src.timeOff {
		if iv, ok := wallSpan(src.day, t.Start, t.End, loc); ok {
			label := "Time off"
			if t.Reason != "" {
				label += ": " + t.Reason
			}
			block("away", label, iv, "")
		}
	}
	var spans []domain.Interval
	var placed []domain.Booking
	for _, b := range src.bookings {
		if iv, ok := wallSpan(src.day, b.Start, b.End, loc); ok {
			spans, placed = append(spans, iv), append(placed, b)
		}
	}
	lanes, n := gridLanes(spans)
	col.Lanes = n
	for i, b := range placed {
		row, span, ok := w.gridPlace(spans[i])
		if !ok {
			continue
		}
		cb := s.calendarBooking(f, b, svcName[b.ServiceID], staffName[b.StaffID], loc)
		if !withStaff {
			cb.Staff = ""
		}
		col.Cards = append(col.Cards, gridCard{calendarBooking: cb, Style: gridStyle(row, span, lanes[i]),
			Start: spans[i].Start, Minutes: int(b.End.Sub(b.Start) / time.Minute), Selected: b.ID == selected, StaffID: b.StaffID,
			PanelURL: here + "&booking=" + strconv.FormatInt(b.ID, 10)})
	}
	return col
}

func (s *Server) calendarBooking(f adminFrame, b domain.Booking, service, staff string, loc *time.Location) calendarBooking {
	contact := contactLine(b.Contact.Email, b.Contact.Phone)
	return calendarBooking{ID: b.ID, Time: b.Start.In(loc).Format("15:04") + "–" + b.End.In(loc).Format("15:04"),
		Service: service, Staff: staff, Customer: b.Contact.Name, Contact: contact, Status: string(b.Status), Notes: b.Notes,
		StatusLabel: b.Status.Label(), Started: !time.Now().Before(b.Start),
		Outcome: b.Status.HasOutcome(), Open: b.Status.Open(), Pending: b.Status == domain.StatusPending,
		URL: f.URL(paths.AdminBooking(b.ID))}
}
