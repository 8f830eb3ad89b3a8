package web

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
