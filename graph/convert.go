package graph

import (
	"strings"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph/model"
)

// optional is nil for "", else a pointer to s (GraphQL null for unset text).
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// deref is the value of p, or the zero value when p is nil (an omitted argument).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// pointers turns a list of values into the list of pointers gqlgen works with.
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

// inZone shows a booking's times with the business's UTC offset, as the schema promises.
func inZone(s *domain.Store, b domain.Booking) *domain.Booking {
	b.Start, b.End = b.Start.In(s.Location()), b.End.In(s.Location())
	return &b
}

func bookingStatus(s domain.Status) model.BookingStatus {
	return model.BookingStatus(strings.ToUpper(string(s)))
}
