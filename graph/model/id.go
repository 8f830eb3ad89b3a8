package model

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/reserva/reserva/domain"
)

// MarshalID64 writes an int64 id as a GraphQL ID (a JSON string).
func MarshalID64(id int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(strconv.FormatInt(id, 10))) })
}

// UnmarshalID64 reads a GraphQL ID ("12" or 12) as an int64 id.
func UnmarshalID64(v any) (int64, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	default:
		return 0, domain.Invalid("", "%v is not an id", v)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.Invalid("", "%q is not an id", s)
	}
	return id, nil
}
