package graph

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/graph/model"
)

// fastAvailability answers the availability query field by writing its JSON straight from the
// domain's days. It is the hottest public query, and gqlgen's execution costs several
// allocations and a context per field of every slot (a week holds hundreds), many times the
// availability itself. The document has been parsed, validated and checked against the limits
// as any other; the answer is what gqlgen would write, byte for byte
// (TestFastAvailabilityMatchesGqlgen). Anything it does not cover (an error to report, @defer, a
// field it does not know) goes to gqlgen's own execution, next.
func fastAvailability(ctx context.Context, next graphql.RootResolver) (m graphql.Marshaler) {
	rfc := graphql.GetRootFieldContext(ctx)
	if rfc == nil || rfc.Field.Name != "availability" || rfc.Field.ObjectDefinition == nil || rfc.Field.ObjectDefinition.Name != "Query" {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	// A root field middleware runs outside gqlgen's panic guard, on a goroutine of its own when
	// the operation has several root fields: a panic here is reported as gqlgen reports one.
	defer func() {
		if r := recover(); r != nil {
			oc.Error(ctx, oc.Recover(ctx, r))
			m = graphql.Null
		}
	}()
	plan, ok := planDays(oc, rfc.Field.Selections)
	if !ok {
		return next(ctx)
	}
	q, ok := availabilityArgs(rfc.Field.ArgumentMap(oc.Variables))
	if !ok {
		return next(ctx)
	}
	s, err := store(ctx)
	if err != nil {
		return next(ctx)
	}
	days, err := s.Availability(ctx, q)
	if err != nil {
		return next(ctx) // which meets the same error and reports it as usual
	}
	if !plan.encodeStaff(ctx, s, days) {
		return next(ctx)
	}
	return encodedJSON(plan.encode(days))
}

// encodedJSON is a value already written as JSON.
type encodedJSON []byte

func (e encodedJSON) MarshalGQL(w io.Writer) { _, _ = w.Write(e) }

// availabilityArgs reads the field's arguments as the generated code does; false when one does
// not read (gqlgen then reports it).
func availabilityArgs(raw map[string]any) (domain.AvailabilityQuery, bool) {
	var q domain.AvailabilityQuery
	var from, to model.Date
	var err error
	if q.ServiceID, err = model.UnmarshalID64(raw["serviceId"]); err != nil {
		return q, false
	}
	if from.UnmarshalGQL(raw["from"]) != nil || to.UnmarshalGQL(raw["to"]) != nil {
		return q, false
	}
	q.From, q.To = from.Date, to.Date
	if v := raw["staffId"]; v != nil {
		if q.StaffID, err = model.UnmarshalID64(v); err != nil {
			return q, false
		}
	}
	return q, true
}

// The fields the fast path writes.
const (
	fieldTypename = iota
	fieldDate
	fieldStatus
	fieldSlots
	fieldStart
	fieldEnd
	fieldStaff
	fieldSeatsLeft
	fieldID
	fieldName
)

// planned is one selected field: its response key, written once as `"key":`, and what it holds.
type planned struct {
	key      []byte
	field    int
	typename string // for __typename
	children []planned
	staff    map[int64][]byte // Slot.staff: each staff member's object, as children select it
}

// plan is the selection of AvailabilityDay, as gqlgen collects it (fragments merged, @skip and
// @include applied).
type plan []planned

func planDays(oc *graphql.OperationContext, sel ast.SelectionSet) (plan, bool) {
	return planObject(oc, sel, "AvailabilityDay", map[string]int{"date": fieldDate, "status": fieldStatus, "slots": fieldSlots})
}

func planObject(oc *graphql.OperationContext, sel ast.SelectionSet, typ string, fields map[string]int) (plan, bool) {
	var out plan
	seen := map[string]bool{}
	for _, f := range graphql.CollectFields(oc, sel, []string{typ}) {
		if len(f.Deferrables) > 0 {
			return nil, false
		}
		if seen[f.Alias] {
			continue // gqlgen writes a key once
		}
		seen[f.Alias] = true
		var key bytes.Buffer
		graphql.MarshalString(f.Alias).MarshalGQL(&key)
		key.WriteByte(':')
		p := planned{key: key.Bytes(), typename: typ}
		var ok bool
		switch {
		case f.Name == "__typename":
			p.field = fieldTypename
		case typ == "AvailabilityDay" && f.Name == "slots":
			p.field = fieldSlots
			p.children, ok = planObject(oc, f.Selections, "Slot",
				map[string]int{"start": fieldStart, "end": fieldEnd, "staff": fieldStaff, "seatsLeft": fieldSeatsLeft})
			if !ok {
				return nil, false
			}
		case typ == "Slot" && f.Name == "staff":
			p.field = fieldStaff
			p.children, ok = planObject(oc, f.Selections, "StaffMember", map[string]int{"id": fieldID, "name": fieldName})
			if !ok {
				return nil, false
			}
		default:
			if p.field, ok = fields[f.Name]; !ok {
				return nil, false
			}
		}
		out = append(out, p)
	}
	return out, true
}

// staffFields are the selections of Slot.staff, each under its own response key (a query may
// select staff under several aliases, or slots under several, each with its own fields).
func (p plan) staffFields() []*planned {
	var out []*planned
	for i := range p {
		if p[i].field == fieldSlots {
			for j := range p[i].children {
				if c := &p[i].children[j]; c.field == fieldStaff {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// encodeStaff writes, once per request and staff selection, the staff object of each staff
// member the slots name (into that selection's staff). false when one is missing (gqlgen then
// reports the null).
func (p plan) encodeStaff(ctx context.Context, s *domain.Store, days []domain.Day) bool {
	fields := p.staffFields()
	if len(fields) == 0 {
		return true
	}
	var ids []int64
	for _, d := range days {
		for _, sl := range d.Slots {
			if len(ids) == 0 || ids[len(ids)-1] != sl.StaffID {
				ids = append(ids, sl.StaffID) // duplicates are harmless
			}
		}
	}
	staff, err := s.StaffByIDs(ctx, ids)
	if err != nil {
		return false
	}
	var buf bytes.Buffer
	for _, f := range fields {
		f.staff = make(map[int64][]byte, len(staff))
		for _, id := range ids {
			if _, done := f.staff[id]; done {
				continue
			}
			st, ok := staff[id]
			if !ok {
				return false
			}
			buf.Reset()
			buf.WriteByte('{')
			for i, c := range f.children {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(c.key)
				switch c.field {
				case fieldTypename:
					graphql.MarshalString(c.typename).MarshalGQL(&buf)
				case fieldID:
					buf.WriteByte('"')
					buf.Write(strconv.AppendInt(buf.AvailableBuffer(), st.ID, 10))
					buf.WriteByte('"')
				case fieldName:
					graphql.MarshalString(st.Name).MarshalGQL(&buf)
				}
			}
			buf.WriteByte('}')
			f.staff[id] = bytes.Clone(buf.Bytes())
		}
	}
	return true
}

// encode writes the list of days.
func (p plan) encode(days []domain.Day) []byte {
	size := 2
	for _, d := range days {
		size += 64 + 160*len(d.Slots)
	}
	return appendObjects(make([]byte, 0, size), p, days, func(b []byte, f *planned, d *domain.Day) []byte {
		switch f.field {
		case fieldTypename:
			b = appendQuoted(b, f.typename)
		case fieldDate:
			b = appendDate(b, d.Date)
		case fieldStatus:
			b = appendQuoted(b, string(d.Status))
		case fieldSlots:
			b = encodeSlots(b, f.children, d.Slots)
		}
		return b
	})
}

func encodeSlots(b []byte, p plan, slots []domain.Slot) []byte {
	return appendObjects(b, p, slots, func(b []byte, f *planned, sl *domain.Slot) []byte {
		switch f.field {
		case fieldTypename:
			b = appendQuoted(b, f.typename)
		case fieldStart:
			b = appendTime(b, sl.Start)
		case fieldEnd:
			b = appendTime(b, sl.End)
		case fieldStaff:
			b = append(b, f.staff[sl.StaffID]...)
		case fieldSeatsLeft:
			b = strconv.AppendInt(b, int64(sl.SeatsLeft), 10)
		}
		return b
	})
}

// appendObjects writes items as a JSON list of objects with p's fields, in p's order: each
// field's `"key":`, then its value as value writes it.
func appendObjects[T any](b []byte, p plan, items []T, value func(b []byte, f *planned, item *T) []byte) []byte {
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j := range p {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, p[j].key...)
			b = value(b, &p[j], &items[i])
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendQuoted quotes s, a name or an enum value: letters, digits and underscores only, which
// JSON and strconv.Quote write the same.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime writes t as model.MarshalDateTime does.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// appendDate writes d as model.Date does ("2026-03-29").
func appendDate(b []byte, d domain.Date) []byte {
	if d.Year < 0 || d.Year > 9999 {
		return strconv.AppendQuote(b, d.String())
	}
	b = append(b, '"')
	b = appendPadded(b, d.Year, 4)
	b = append(b, '-')
	b = appendPadded(b, int(d.Month), 2)
	b = append(b, '-')
	b = appendPadded(b, d.Day, 2)
	return append(b, '"')
}

// appendPadded writes n (not negative) with at least width digits, as %0*d does.
func appendPadded(b []byte, n, width int) []byte {
	for p := 10; width > 1; width-- {
		if n < p {
			b = append(b, '0')
		} else {
			p *= 10
		}
	}
	return strconv.AppendInt(b, int64(n), 10)
}
