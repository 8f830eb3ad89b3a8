package web

import (
	"context"
	"errors"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// Errors reach people through this one map: a handler that meets an error asks here how to
// answer it instead of keeping its own switch over domain codes (such switches drifted: a cancel
// reason that was too long read "already cancelled or over", and a database failure read "pick
// another day").

// errorStatus is the HTTP status of each code of an error a user caused.
var errorStatus = map[string]int{
	domain.EINVALID:         http.StatusUnprocessableEntity,
	domain.ENOTFOUND:        http.StatusNotFound,
	domain.ECONFLICT:        http.StatusConflict,
	domain.ESLOTUNAVAILABLE: http.StatusConflict,
	domain.ETOOLATE:         http.StatusConflict,
	domain.EUNAUTHORIZED:    http.StatusUnauthorized,
	domain.EFORBIDDEN:       http.StatusForbidden,
}

// httpError maps err to the status and the plain message that answer it. A user's error keeps
// the domain's message; anything else is internal (500), or 503 when it is passing: the request
// ran out of time, the business is being migrated or busy, the server is stopping. Internal
// messages never say more than that.
func httpError(err error) (status int, message string) {
	var derr *domain.Error
	if errors.As(err, &derr) {
		if status, ok := errorStatus[derr.Code]; ok {
			return status, sentence(derr.Message)
		}
	}
	if temporary(err) {
		return http.StatusServiceUnavailable, "This business's site is busy or being updated. Please try again in a minute."
	}
	return http.StatusInternalServerError, "We could not do this. Please try again."
}

// temporary reports whether err is a failure that goes away by itself.
func temporary(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBusy) || tenancy.IsFault(err)
}

// userCaused returns the status and message of err when a user caused it (ok). Anything else it
// answers itself, as fail does (logged, 500 or 503), and returns ok false: the caller returns.
func (s *Server) userCaused(w http.ResponseWriter, r *http.Request, err error) (status int, message string, ok bool) {
	status, message = httpError(err)
	if status >= 500 {
		s.internalError(w, r, status, err)
		return status, message, false
	}
	return status, message, true
}

// fail answers err with its error page: a user's error with its status and the domain's
// message, an internal one logged with the request's tenant and id and answered 500 or 503.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, message, ok := s.userCaused(w, r, err)
	if !ok {
		return
	}
	if status == http.StatusNotFound {
		s.errorPage(w, r, status, err) // the page's own words: nothing at this address
		return
	}
	v := errorView{Status: status, Title: "This could not be done", Message: message}
	render(w, r, status, errorPage(v))
}

// internalError logs err (the context carries the tenant and the request id) and answers with
// the generic page of status, 500 or 503. A damaged database file also marks its business
// failed (tenancy.Fault).
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, status int, err error) {
	tenancy.Fault(r.Context(), err)
	s.Log.ErrorContext(r.Context(), "server error", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterFault)
	}
	s.errorPage(w, r, status, err)
}

// sentence starts msg with a capital letter: domain messages are written to follow a field name
// or a code ("reason: reason must be ..."), a page shows them on their own.
func sentence(msg string) string {
	r, size := utf8.DecodeRuneInString(msg)
	if r == utf8.RuneError {
		return msg
	}
	return string(unicode.ToUpper(r)) + msg[size:]
}

// errorView is an error page: a status, a headline and what the visitor can do.
type errorView struct {
	Status  int
	Title   string
	Message string
	// Under a business: its name and home page, to go back to.
	Business, HomeURL string
}
