package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/reserva/reserva/domain"
)

// form is a submitted (or prefilled) form: its values, kept when it is shown again, and the
// errors to show next to its fields.
type form struct {
	Values url.Values
	Errors map[string]string // by field name
	Error  string            // about the whole form
}

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

func (f *form) Get(name string) string { return f.Values.Get(name) }
func (f *form) Checked(name string) bool {
	v := f.Values.Get(name)
	return v == "on" || v == "true" || v == "1"
}

// Has reports whether value is among the values of name (checkbox lists).
func (f *form) Has(name, value string) bool {
	for _, v := range f.Values[name] {
		if v == value {
			return true
		}
	}
	return false
}

// Shown is the value an input shows again: never a password.
func (f *form) Shown(name, typ string) string {
	if typ == "password" {
		return ""
	}
	return f.Values.Get(name)
}

func (f *form) Err(name string) string { return f.Errors[name] }
func (f *form) OK() bool               { return len(f.Errors) == 0 && f.Error == "" }

// Summary is the form's errors in one line, the whole form's first, then by field name: for
// an answer that has no fields to put them next to (the calendar's script).
func (f *form) Summary() string {
	var out []string
	if f.Error != "" {
		out = append(out, f.Error)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Errors)) {
		out = append(out, f.Errors[k])
	}
	return strings.Join(out, "; ")
}

// invalid records an error next to a field; the first one per field wins.
func (f *form) invalid(field, format string, args ...any) {
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = fmt.Sprintf(format, args...)
	}
}

// fail records a domain error on the form (next to its field when it names one) and reports
// whether it was one a user can fix; other errors are the server's.
func (f *form) fail(err error, fields map[string]string) bool {
	var e *domain.Error
	if !errors.As(err, &e) || e.Code == domain.EINTERNAL {
		return false
	}
	field := e.Field
	if mapped, ok := fields[field]; ok {
		field = mapped
	}
	if field != "" {
		f.invalid(field, "%s", e.Message)
	} else {
		f.Error = e.Message
	}
	return true
}

// number reads a whole number between lo and hi (minutes, days, seats...).
func (f *form) number(name, label string, lo, hi int64) int64 {
	raw := strings.TrimSpace(f.Get(name))
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		f.invalid(name, "%s must be a whole number from %d to %d", label, lo, hi)
		return 0
	}
	return n
}

func (f *form) date(name string) domain.Date {
	d, err := domain.ParseDate(strings.TrimSpace(f.Get(name)))
	if err != nil {
		f.invalid(name, "enter a date as YYYY-MM-DD")
	}
	return d
}

// clockTime reads HH:MM as minutes after midnight.
func (f *form) clockTime(name string) int {
	m, ok := domain.ParseClock(f.Get(name))
	if !ok {
		f.invalid(name, "enter a time as HH:MM, e.g. 09:30")
	}
	return m
}

// ids reads a list of ids (checkboxes).
func (f *form) ids(name string) []int64 {
	var out []int64
	for _, v := range f.Values[name] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.invalid(name, "choose from the list")
			return nil
		}
		out = append(out, id)
	}
	return out
}

func formatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// formatIntervals shows ranges as the list of date overrides does: 09:00-13:00, 14:00-18:00.
func formatIntervals(ivs []domain.Interval) string {
	parts := make([]string, len(ivs))
	for i, iv := range ivs {
		parts[i] = formatClock(iv.Start) + "-" + formatClock(iv.End)
	}
	return strings.Join(parts, ", ")
}

// parseMoney reads "25", "25.5" or "25.50" as minor units.
func parseMoney(s string) (int64, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 1e9 {
		return 0, false
	}
	var c int64
	if frac != "" {
		frac += strings.Repeat("0", 2-len(frac))
		if c, err = strconv.ParseInt(frac, 10, 64); err != nil || c < 0 {
			return 0, false
		}
	}
	return w*100 + c, true
}

func formatAmount(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

// pathID reads an id path value.
func pathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}

// readForm parses r's form, answering a body that cannot be read with a plain 400 (the caller
// returns): a handler must never take an unreadable body for an empty form. URL-encoded bodies
// were parsed and checked by requireUTF8 already; this catches every other case.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, domain.Errorf(domain.EINVALID, "This form could not be read. Go back and send it again."))
		return false
	}
	return true
}
