package domain

import (
	"strconv"
	"time"
)

// Settings are a business's booking rules. Name and time zone live with the tenant record; the
// store is given the zone when it is opened.
type Settings struct {
	Currency            string // ISO 4217, e.g. EUR
	Locale              string // BCP 47, e.g. en, es-ES
	SlotStep            time.Duration
	MinNotice           time.Duration // earliest bookable start is now + MinNotice
	Horizon             time.Duration // latest bookable start is now + Horizon
	CancelCutoff        time.Duration // customers may cancel/reschedule until start - CancelCutoff; 0 = any time
	RequireConfirmation bool          // new bookings start pending until staff confirm
	ContactEmail        string
	ContactPhone        string
	Address             string
}

// Money is an amount in minor units (cents) of a currency.
type Money struct {
	Amount   int64
	Currency string
}

// Service is something a business sells by time: an appointment (capacity 1) or a class.
type Service struct {
	ID           int64
	Name         string
	Description  string
	Duration     time.Duration
	Price        Money
	BufferBefore time.Duration // staff (and resources) are busy this long before the start
	BufferAfter  time.Duration // ... and after the end
	Capacity     int           // 1 = appointment; more = a class with seats
	Active       bool          // archived services cannot be booked
	StaffIDs     []int64       // who offers it
	ResourceIDs  []int64       // what it needs, all of them
	// Optional overrides of the business's settings (nil: use the setting).
	MinNotice *time.Duration
	Horizon   *time.Duration
	SlotStep  *time.Duration
}

// Interval is a span of wall-clock minutes within a day: Start 540, End 780 is 09:00–13:00.
type Interval struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// WeeklyHours are working intervals per weekday, indexed by time.Weekday (Sunday = 0). Gaps
// between intervals are breaks.
type WeeklyHours [7][]Interval

// Staff is a person who delivers services.
type Staff struct {
	ID     int64
	Name   string
	Email  string
	Active bool
	Hours  WeeklyHours
}

// DateOverride replaces a staff member's weekly hours on one date; no intervals = closed.
type DateOverride struct {
	StaffID   int64
	Date      Date
	Intervals []Interval
}

// TimeOff is a span when a staff member is away.
type TimeOff struct {
	ID      int64
	StaffID int64
	Start   time.Time
	End     time.Time
	Reason  string
}

// Resource is a room, chair or piece of equipment a service can require. Bookings that need the
// same resource cannot overlap, just like bookings of the same staff member.
type Resource struct {
	ID     int64
	Name   string
	Active bool
}

// Customer is someone who books. Customers are found by email; one taken by phone without an
// email has none (Email is empty) and is found by phone, or not at all with a name alone.
type Customer struct {
	ID        int64
	Name      string
	Email     string
	Phone     string
	Notes     string
	CreatedAt time.Time
}

// Status is where a booking is in its life.
type Status string

const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusCancelled Status = "cancelled"
	StatusCompleted Status = "completed"
	StatusNoShow    Status = "no_show"
)

// Valid reports whether st is a known status.
func (st Status) Valid() bool {
	switch st {
	case StatusPending, StatusConfirmed, StatusCancelled, StatusCompleted, StatusNoShow:
		return true
	}
	return false
}

// Booking is a customer's reservation of a service with a staff member at a time.
type Booking struct {
	ID           int64
	ServiceID    int64
	StaffID      int64
	CustomerID   int64
	ResourceIDs  []int64
	Start        time.Time // UTC
	End          time.Time // UTC
	Status       Status
	Seats        int
	Notes        string
	Contact      Contact // as given with this booking
	CancelReason string
	CancelledBy  Actor
	CalendarUID  string // its calendar event's id, unique across businesses (the UID is this@reserva)
	Locale       string // the language the customer booked in ("es"), "" for the business's
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Contact is how to reach the person who made a booking, as they gave it then.
type Contact struct {
	Name, Email, Phone string
}

// Event is one entry of a booking's audit trail.
type Event struct {
	ID        int64
	BookingID int64
	Type      EventType
	Actor     Actor
	Data      string // JSON details
	At        time.Time
}

// EventType is what happened to a booking, as its audit trail (booking_events.type) says.
type EventType string

const (
	EventCreated     EventType = "created"
	EventConfirmed   EventType = "confirmed"
	EventRescheduled EventType = "rescheduled"
	EventCancelled   EventType = "cancelled"
	EventCompleted   EventType = "completed"
	EventNoShow      EventType = "no_show"
	EventReopened    EventType = "reopened"   // an outcome (completed, no-show) taken back
	EventAnonymised  EventType = "anonymised" // the customer's personal data erased
)

// Actor is who made a change, as a booking's audit trail and its cancellation record name it:
// ActorCustomer, ActorSystem, StaffActor(name) or APITokenActor(id).
type Actor string

const (
	ActorCustomer Actor = "customer" // the customer, on the public pages or with a manage link
	ActorSystem   Actor = "system"   // Reserva itself (demo data, imports)
)

// StaffActor is a signed-in dashboard user, by name.
func StaffActor(name string) Actor { return Actor("staff:" + name) }

// APITokenActor is an integration acting with API token id.
func APITokenActor(id int64) Actor { return Actor("api-token:" + strconv.FormatInt(id, 10)) }
