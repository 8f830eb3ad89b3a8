// Package gqlerr writes the errors a GraphQL client gets before (or instead of) an operation:
// no business at the address, a body too large, a bad API token, too many attempts. Both the
// GraphQL handler (graph) and the tenant middleware in front of it (web) answer so, and each
// spelled the JSON itself; one writer keeps the shape, and the codes clients act on, the same.
//
// It imports nothing of ours, so web and graph both reach it without importing each other.
package gqlerr

import (
	"encoding/json"
	"net/http"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// New is the error with message and extensions.code code.
func New(code, message string) *gqlerror.Error {
	return &gqlerror.Error{Message: message, Extensions: map[string]any{"code": code}}
}

// Write answers with status and a GraphQL response holding only errs.
func Write(w http.ResponseWriter, status int, errs ...*gqlerror.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

// OutcomeUnknown is the error for a write the replica did not confirm (--replica-ack sync):
// it may or may not have been saved, and a retry is safe (bookings carry an idempotency key).
// The HTTP answer (503) and the websocket's error message say the same.
func OutcomeUnknown() *gqlerror.Error {
	return New("TENANT_UNAVAILABLE", "outcome unknown: the change may or may not have been saved; retry (with the same idempotency key)")
}
