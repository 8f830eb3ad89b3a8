package web

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
)

// The weekly hours editor: per weekday, rows of two time inputs (from, to). It works without
// JavaScript: every day shows its ranges and one empty row; "Add a range" and "Remove" are
// submit buttons that show the form again with a row more or less, saving nothing until Save.

// maxRangesPerDay bounds the rows of one day: a form can add no more.
const maxRangesPerDay = 8

// hoursRange is one row of a day: the values shown in its inputs.
type hoursRange struct {
	From, To string
	Index    int
}

// hoursDay is one weekday of the editor.
type hoursDay struct {
	Name, Key string // Monday, mon
	Ranges    []hoursRange
	CanAdd    bool
	More      string // empty rows added, kept in a hidden field
}

func dayKey(d time.Weekday) string { return strings.ToLower(d.String()[:3]) }

// hoursFields are the form fields of a day's starts and ends; hoursField (the day's own) is
// where its error shows.
func hoursFields(d time.Weekday) (from, to string) {
	return hoursField(d) + "-from", hoursField(d) + "-to"
}

// hoursValues puts weekly hours into a form's values, as the editor's fields. An end at
// midnight (24:00) is shown as 00:00, which a time input can hold and hoursFromForm reads back.
func hoursValues(v url.Values, h domain.WeeklyHours) {
	for _, d := range weekdays {
		from, to := hoursFields(d)
		v.Del(from)
		v.Del(to)
		for _, iv := range h[d] {
			v.Add(from, formatClock(iv.Start))
			v.Add(to, formatClock(iv.End%(24*60)))
		}
	}
}

// hoursRanges are a day's rows from the form's values: the ranges given, then empty rows to
// type new ones into: one, and one more for each "Add a range" (the hidden more-<day> field),
// at most maxRangesPerDay rows in all.
func hoursRanges(f *form, d time.Weekday) []hoursRange {
	given := givenRanges(f, d)
	more, _ := strconv.Atoi(f.Get("more-" + dayKey(d)))
	out := given
	for range 1 + min(max(more, 0), maxRangesPerDay) {
		if len(out) >= maxRangesPerDay {
			break
		}
		out = append(out, hoursRange{})
	}
	for i := range out {
		out[i].Index = i
	}
	return out
}

// givenRanges are the rows of a day with something typed in them.
func givenRanges(f *form, d time.Weekday) []hoursRange {
	fromName, toName := hoursFields(d)
	froms, tos := f.Values[fromName], f.Values[toName]
	var out []hoursRange
	for i := range max(len(froms), len(tos)) {
		var r hoursRange
		if i < len(froms) {
			r.From = strings.TrimSpace(froms[i])
		}
		if i < len(tos) {
			r.To = strings.TrimSpace(tos[i])
		}
		if r.From != "" || r.To != "" {
			out = append(out, r)
		}
	}
	return out
}

// editHours applies an "Add a range" or "Remove" button of the editor to the form's values and
// reports whether there was one (the form is then shown again, not saved): add shows the day
// one empty row more; remove ("mon:1") drops that row.
func editHours(f *form) bool {
	if key := f.Get("add"); key != "" {
		more, _ := strconv.Atoi(f.Get("more-" + key))
		if slices.ContainsFunc(weekdays, func(d time.Weekday) bool { return dayKey(d) == key }) {
			f.Values.Set("more-"+key, strconv.Itoa(min(max(more, 0)+1, maxRangesPerDay)))
		}
		return true
	}
	rm := f.Get("remove")
	if rm == "" {
		return false
	}
	key, idx, _ := strings.Cut(rm, ":")
	i, err := strconv.Atoi(idx)
	for _, d := range weekdays {
		if dayKey(d) != key || err != nil {
			continue
		}
		given := givenRanges(f, d)
		if i < 0 || i >= len(given) {
			break
		}
		given = slices.Delete(given, i, i+1)
		from, to := hoursFields(d)
		f.Values.Del(from)
		f.Values.Del(to)
		for _, r := range given {
			f.Values.Add(from, r.From)
			f.Values.Add(to, r.To)
		}
	}
	return true
}

// hoursFromForm reads the week's hours from the editor's fields; each day's mistakes are left
// on f next to that day, in plain words. An empty row is ignored; an end of 00:00 is midnight.
func hoursFromForm(f *form) domain.WeeklyHours {
	var h domain.WeeklyHours
	for _, d := range weekdays {
		field := hoursField(d)
		if len(givenRanges(f, d)) > maxRangesPerDay {
			f.invalid(field, "%s: at most %d ranges a day", d, maxRangesPerDay)
			continue
		}
		for n, r := range givenRanges(f, d) {
			if iv, ok := readRange(f, field, fmt.Sprintf("%s, range %d", d, n+1), r); ok {
				h[d] = append(h[d], iv)
			}
		}
	}
	return h
}

// readRange reads one row of time inputs; its mistake is left on f at field, named by label
// ("Monday, range 2"). An end of 00:00 is midnight.
func readRange(f *form, field, label string, r hoursRange) (domain.Interval, bool) {
	a, b := strings.TrimSpace(r.From), strings.TrimSpace(r.To)
	if a == "" || b == "" {
		f.invalid(field, "%s: give both a start and an end (or clear both to remove it)", label)
		return domain.Interval{}, false
	}
	start, ok1 := domain.ParseClock(a)
	end, ok2 := domain.ParseClock(b)
	if !ok1 || !ok2 || start >= 24*60 {
		f.invalid(field, "%s: enter times as HH:MM, e.g. 09:00", label)
		return domain.Interval{}, false
	}
	if end == 0 {
		end = 24 * 60 // 00:00 as an end is the day's midnight
	}
	if end <= start {
		f.invalid(field, "%s: %s–%s ends before it starts", label, formatClock(start), formatClock(end))
		return domain.Interval{}, false
	}
	return domain.Interval{Start: start, End: end}, true
}

// overrideRows are the two rows of time inputs of the "different hours on a date" form.
const overrideRows = 2

// overrideRanges are that form's rows, as typed (always overrideRows of them).
func overrideRanges(f *form) []hoursRange {
	out := make([]hoursRange, overrideRows)
	for i := range out {
		out[i].Index = i
		if vs := f.Values["from"]; i < len(vs) {
			out[i].From = vs[i]
		}
		if vs := f.Values["to"]; i < len(vs) {
			out[i].To = vs[i]
		}
	}
	return out
}

// overrideFromForm reads the date's ranges (none: closed that day); mistakes go on "hours".
func overrideFromForm(f *form) []domain.Interval {
	var out []domain.Interval
	for i, r := range overrideRanges(f) {
		if strings.TrimSpace(r.From) == "" && strings.TrimSpace(r.To) == "" {
			continue
		}
		if iv, ok := readRange(f, "hours", fmt.Sprintf("Range %d", i+1), r); ok {
			out = append(out, iv)
		}
	}
	return out
}

// hoursDays are the editor's rows for a form.
func hoursDays(f *form) []hoursDay {
	var out []hoursDay
	for _, d := range weekdays {
		rs := hoursRanges(f, d)
		more, _ := strconv.Atoi(f.Get("more-" + dayKey(d)))
		out = append(out, hoursDay{Name: d.String(), Key: dayKey(d), Ranges: rs, CanAdd: len(rs) < maxRangesPerDay,
			More: strconv.Itoa(min(max(more, 0), maxRangesPerDay))})
	}
	return out
}

// rangeID is the id of a row's input: hours-mon-0-from.
func rangeID(day string, i int, end string) string { return fmt.Sprintf("hours-%s-%d-%s", day, i, end) }
