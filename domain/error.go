package domain

import (
	"errors"
	"fmt"
)

// Error codes. Every error a user can cause carries one; anything else is internal and shown to
// users only as "internal error".
const (
	EINVALID         = "invalid"          // bad input; Field names the field
	ENOTFOUND        = "not_found"        // no such thing (in this tenant)
	ECONFLICT        = "conflict"         // the change clashes with current state
	ESLOTUNAVAILABLE = "slot_unavailable" // the time is not (or no longer) free
	ETOOLATE         = "too_late"         // past the cancellation/reschedule cutoff
	EUNAUTHORIZED    = "unauthorized"     // not signed in, or credentials are wrong
	EFORBIDDEN       = "forbidden"        // signed in, but the role does not allow it
	EINTERNAL        = "internal"
)

// Error is an error a user can act on.
type Error struct {
	Code    string
	Field   string // the input field at fault, for EINVALID
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL when it has none, "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err fit for users: internal details are never shown.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Error()
	}
	return "internal error"
}
