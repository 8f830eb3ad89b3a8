package model

import (
	"time"

	"github.com/reserva/reserva/domain"
)

// AvailabilityDay is a day of availability with its slots' staff already loaded, so that a
// month of slots needs no resolver per slot.
type AvailabilityDay struct {
	Date   Date
	Status DayStatus
	Slots  []*Slot
}

// Slot is a free start time with the staff member who would take it.
type Slot struct {
	Start     time.Time
	End       time.Time
	Staff     *domain.Staff
	SeatsLeft int
}
