package graph

import (
	"context"
	"slices"
	"strings"
	"time"

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

// page turns list, read with one more than the page size n to learn whether a next page
// follows, into a connection's edges (edge makes one of a node) and its page info (cursor is
// where an edge keeps its cursor). after is the cursor the page was asked to follow.
func page[N, E any](list []N, n int, after *string, edge func(*N) *E, cursor func(*E) *string) ([]*E, *model.PageInfo) {
	info := &model.PageInfo{HasNextPage: len(list) > n, HasPreviousPage: after != nil}
	var edges []*E
	for i := range list[:min(len(list), n)] {
		edges = append(edges, edge(&list[i]))
	}
	if len(edges) > 0 {
		info.StartCursor, info.EndCursor = cursor(edges[0]), cursor(edges[len(edges)-1])
	}
	return edges, info
}

// orNil is a lookup's answer for a nullable field: no such record is null, not an error.
func orNil[T any](v *T, err error) (*T, error) {
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return nil, nil
	}
	return v, err
}

// inZone shows a booking's times with the business's UTC offset, as the schema promises.
func inZone(s *domain.Store, b domain.Booking) *domain.Booking {
	b.Start, b.End = b.Start.In(s.Location()), b.End.In(s.Location())
	return &b
}

func bookingStatus(s domain.Status) model.BookingStatus {
	return model.BookingStatus(strings.ToUpper(string(s)))
}

// zoned shows a list of bookings in the business's zone.
func zoned(s *domain.Store, list []domain.Booking) []*domain.Booking {
	out := make([]*domain.Booking, len(list))
	for i, b := range list {
		out[i] = inZone(s, b)
	}
	return out
}

// bookingRequest turns the GraphQL input into a domain request.
func bookingRequest(in model.CreateBookingInput, onBehalf bool, actor domain.Actor) domain.BookingRequest {
	return domain.BookingRequest{
		ServiceID: in.ServiceID, StaffID: deref(in.StaffID), Start: in.Start,
		Customer: domain.Customer{Name: in.Customer.Name, Email: deref(in.Customer.Email), Phone: deref(in.Customer.Phone)},
		Notes:    deref(in.Notes), IdempotencyKey: deref(in.IdempotencyKey), OnBehalf: onBehalf, Actor: actor,
	}
}

// serviceFromInput builds a service in the business's currency.
func serviceFromInput(ctx context.Context, s *domain.Store, in model.ServiceInput) (domain.Service, error) {
	st, err := s.Settings(ctx)
	if err != nil {
		return domain.Service{}, err
	}
	capacity := 1
	if in.Capacity != nil {
		capacity = *in.Capacity
	}
	return domain.Service{
		Name: in.Name, Description: deref(in.Description), Duration: time.Duration(in.DurationMinutes) * time.Minute,
		Price:        domain.Money{Amount: int64(in.PriceAmount), Currency: st.Currency},
		BufferBefore: time.Duration(deref(in.BufferBeforeMinutes)) * time.Minute,
		BufferAfter:  time.Duration(deref(in.BufferAfterMinutes)) * time.Minute,
		Capacity:     capacity, StaffIDs: in.StaffIds, ResourceIDs: in.ResourceIds,
	}, nil
}

func roleOut(r domain.Role) model.Role { return model.Role(strings.ToUpper(string(r))) }
func roleIn(r model.Role) domain.Role  { return domain.Role(strings.ToLower(string(r))) }

func statusIn(s model.BookingStatus) domain.Status { return domain.Status(strings.ToLower(string(s))) }

// availabilityDays converts days for the API, loading their slots' staff in one query.
func availabilityDays(ctx context.Context, s *domain.Store, days []domain.Day) ([]*model.AvailabilityDay, error) {
	var ids []int64
	for _, d := range days {
		for _, sl := range d.Slots {
			if !slices.Contains(ids, sl.StaffID) {
				ids = append(ids, sl.StaffID)
			}
		}
	}
	staff, err := s.StaffByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	// One copy of each staff member and one array of slots per day, not an allocation per slot:
	// a week of a busy business has hundreds of slots. Staff are never deleted (only made
	// inactive), so every slot's staff member is among them.
	members := make(map[int64]*domain.Staff, len(staff))
	for id, st := range staff {
		members[id] = &st
	}
	out := make([]*model.AvailabilityDay, len(days))
	for i, d := range days {
		slots := make([]model.Slot, len(d.Slots))
		day := &model.AvailabilityDay{Date: model.Date{Date: d.Date}, Status: model.DayStatus(d.Status), Slots: make([]*model.Slot, len(d.Slots))}
		for j, sl := range d.Slots {
			slots[j] = model.Slot{Start: sl.Start, End: sl.End, Staff: members[sl.StaffID], SeatsLeft: sl.SeatsLeft}
			day.Slots[j] = &slots[j]
		}
		out[i] = day
	}
	return out, nil
}

func trimmed(s string) string { return strings.TrimSpace(s) }
