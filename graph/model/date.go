// Package model holds GraphQL types that are not domain types.
package model

import (
	"io"
	"strconv"

	"github.com/reserva/reserva/domain"
)

// Date is the GraphQL Date scalar: a calendar day, YYYY-MM-DD.
type Date struct{ domain.Date }

// UnmarshalGQL parses YYYY-MM-DD.
func (d *Date) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return domain.Invalid("", "a Date is a string like 2026-03-29")
	}
	parsed, err := domain.ParseDate(s)
	if err != nil {
		return domain.Invalid("", "%s", err.Error())
	}
	d.Date = parsed
	return nil
}

// MarshalGQL writes the date as a JSON string.
func (d Date) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(d.String())) }
