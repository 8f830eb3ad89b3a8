package model

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/reserva/reserva/domain"
)

// MarshalDateTime writes an instant as RFC 3339 with its own offset (the business's, as the
// resolvers give it).
func MarshalDateTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(t.Format(time.RFC3339))) })
}

// UnmarshalDateTime reads an RFC 3339 instant; a bad one is the client's error.
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, domain.Invalid("", "a DateTime is a string like 2026-03-29T09:00:00+02:00")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, domain.Invalid("", "%q is not a DateTime like 2026-03-29T09:00:00+02:00", s)
	}
	return t, nil
}
