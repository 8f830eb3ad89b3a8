package i18n

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/currency"
	"golang.org/x/text/number"
)

// golang.org/x/text has no calendar names (CLDR's date formats are not in it), so the names of
// weekdays and months, and the order a date is written in, are messages of the catalogs like any
// other: weekday.0 (Sunday) … weekday.6, weekday.short.N, month.1 … month.12, month.short.N, and
// date.long, date.day, date.short, which put them together.

func (l *Localizer) dateParts(t time.Time, short bool) map[string]any {
	wd, mo := "weekday.", "month."
	if short {
		wd, mo = "weekday.short.", "month.short."
	}
	return map[string]any{
		"Weekday": l.T(wd + strconv.Itoa(int(t.Weekday()))),
		"Day":     t.Day(),
		"Month":   l.T(mo + strconv.Itoa(int(t.Month()))),
		"Year":    t.Year(),
	}
}

// LongDate is t's date with weekday and year: "Monday 2 January 2006", "lunes, 2 de enero de
// 2006", in t's own zone.
func (l *Localizer) LongDate(t time.Time) string { return l.T("date.long", l.dateParts(t, false)) }

// DayMonth is t's date with weekday, without the year: "Monday 2 January".
func (l *Localizer) DayMonth(t time.Time) string { return l.T("date.day", l.dateParts(t, false)) }

// ShortDate is t's date in brief: "Mon 2 Jan", "lun 2 ene".
func (l *Localizer) ShortDate(t time.Time) string { return l.T("date.short", l.dateParts(t, true)) }

// Weekday is the name of day d ("Monday", "lunes").
func (l *Localizer) Weekday(d time.Weekday) string { return l.T("weekday." + strconv.Itoa(int(d))) }

// ShortWeekday is the brief name of day d ("Mon", "lun").
func (l *Localizer) ShortWeekday(d time.Weekday) string {
	return l.T("weekday.short." + strconv.Itoa(int(d)))
}

// MonthYear names a month: "January 2006", "enero de 2006".
func (l *Localizer) MonthYear(t time.Time) string {
	return l.T("date.month", map[string]any{"Month": l.T("month." + strconv.Itoa(int(t.Month()))), "Year": t.Year()})
}

// Time is t's clock time, 24-hour in every language Reserva speaks: "15:04".
func (l *Localizer) Time(t time.Time) string { return t.Format("15:04") }

// DayTime is t's date and clock time: "Monday 2 January 15:04".
func (l *Localizer) DayTime(t time.Time) string {
	return l.T("date.daytime", map[string]any{"Date": l.DayMonth(t), "Time": l.Time(t)})
}

// Duration is a length of time as a service's is shown: "30 min", "1 h 30 min".
func (l *Localizer) Duration(d time.Duration) string {
	return l.memoized(memoKey{kind: 'd', n: int64(d)}, func() string { return l.duration(d) })
}

func (l *Localizer) duration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return l.T("duration.min", map[string]any{"Minutes": m})
	case m == 0:
		return l.T("duration.h", map[string]any{"Hours": h})
	}
	return l.T("duration.hmin", map[string]any{"Hours": h, "Minutes": m})
}

// Span is a length of time in words, with the language's plurals: "2 days", "1 hour 30
// minutes", "45 minutes".
func (l *Localizer) Span(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return l.N("span.days", int(d/(24*time.Hour)))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	var parts []string
	if h > 0 {
		parts = append(parts, l.N("span.hours", h))
	}
	if m > 0 || h == 0 {
		parts = append(parts, l.N("span.minutes", m))
	}
	return strings.Join(parts, " ")
}

// symbolAfter are the languages that write a currency's symbol after the amount, with a
// no-break space: "1.234,50 €" (CLDR's patterns; x/text's currency formatter puts it first
// everywhere).
var symbolAfter = map[string]bool{"es": true, "de": true, "fr": true}

// Money formats an amount in hundredths of an ISO 4217 currency (domain.Money's unit, whatever
// the currency, as prices are entered with two decimals): "€25.00" in English, "25,00 €" in
// Spanish, German and French, grouped as each language groups digits. An unknown code is shown
// as the code after the number.
func (l *Localizer) Money(hundredths int64, code string) string {
	return l.memoized(memoKey{kind: 'm', s: code, n: hundredths}, func() string { return l.money(hundredths, code) })
}

func (l *Localizer) money(hundredths int64, code string) string {
	amount := l.printer.Sprint(number.Decimal(float64(hundredths)/100, number.Scale(2)))
	unit, err := currency.ParseISO(code)
	if err != nil {
		return amount + " " + code
	}
	symbol := l.printer.Sprint(currency.Symbol(unit))
	if symbolAfter[l.Lang()] {
		return amount + "\u00a0" + symbol
	}
	return symbol + amount
}

// Wait says how long to wait before trying again: whole minutes from a minute up, else whole
// seconds ("2 minutes", "40 seconds").
func (l *Localizer) Wait(d time.Duration) string {
	if d > time.Minute {
		return l.N("span.minutes", int((d+time.Minute-1)/time.Minute))
	}
	return l.N("span.seconds", max(1, int((d+time.Second-1)/time.Second)))
}
