// Package domain holds Reserva's booking entities and rules: services, staff, schedules, the
// availability engine and bookings. It works on one tenant's database handle and never learns
// which tenant that is.
package domain
