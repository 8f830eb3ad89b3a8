package web

import (
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

func iv(from, to string) domain.Interval {
	a, _ := domain.ParseClock(from)
	b, _ := domain.ParseClock(to)
	return domain.Interval{Start: a, End: b}
}

// The grid shows from the first working hour to the last, widened to whole hours and to the
// bookings outside them.
func TestGridRange(t *testing.T) {
	for name, c := range map[string]struct {
		spans []domain.Interval
		want  gridWindow
	}{
		"OK":              {[]domain.Interval{iv("09:00", "12:00"), iv("14:00", "17:30")}, gridWindow{9 * 60, 18 * 60}},
		"BookingOutside":  {[]domain.Interval{iv("09:30", "17:00"), iv("18:10", "18:40"), iv("07:45", "08:15")}, gridWindow{7 * 60, 19 * 60}},
		"UntilMidnight":   {[]domain.Interval{iv("20:00", "24:00")}, gridWindow{20 * 60, 24 * 60}},
		"NobodyWorks":     {nil, defaultGridWindow},
		"ZeroLengthAtEnd": {[]domain.Interval{iv("10:00", "10:00")}, gridWindow{10 * 60, 11 * 60}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := gridRange(c.spans); got != c.want {
				t.Errorf("gridRange = %+v, want %+v", got, c.want)
			}
		})
	}
	if got := (gridWindow{9 * 60, 12 * 60}).Hours(); !slices.Equal(got, []int{540, 600, 660}) {
		t.Errorf("hours: %v", got)
	}
}

// A span's rows: row 1 is the window's first 5 minutes; spans are clipped to the window; a
// span shorter than a row takes one.
func TestGridPlace(t *testing.T) {
	w := gridWindow{9 * 60, 19 * 60}
	if w.Rows() != 120 {
		t.Fatalf("rows: %d", w.Rows())
	}
	for name, c := range map[string]struct {
		span      domain.Interval
		row, rows int
		ok        bool
	}{
		"OK":           {iv("10:00", "11:00"), 13, 12, true},
		"FirstRow":     {iv("09:00", "09:05"), 1, 1, true},
		"OffTheStep":   {iv("09:07", "09:08"), 2, 1, true},
		"EndsOffStep":  {iv("09:00", "09:12"), 1, 3, true},
		"StartsBefore": {iv("08:30", "09:30"), 1, 6, true},
		"EndsAfter":    {iv("18:30", "20:00"), 115, 6, true},
		"Before":       {iv("07:00", "09:00"), 0, 0, false},
		"After":        {iv("19:00", "20:00"), 0, 0, false},
		"LastRow":      {iv("18:55", "19:00"), 120, 1, true},
	} {
		t.Run(name, func(t *testing.T) {
			row, rows, ok := w.gridPlace(c.span)
			if row != c.row || rows != c.rows || ok != c.ok {
				t.Errorf("gridPlace(%v) = %d, %d, %v; want %d, %d, %v", c.span, row, rows, ok, c.row, c.rows, c.ok)
			}
			if ok && w.minuteAt(row) > c.span.Start && c.span.Start >= w.From {
				t.Errorf("row %d starts at %d, after the span's %d", row, w.minuteAt(row), c.span.Start)
			}
		})
	}
	if got := gridStyle(13, 12, 2); got != "grid-row: 13 / span 12; grid-column: 2" {
		t.Errorf("style: %q", got)
	}
	if got := gridStyle(1, 6, 0); got != "grid-row: 1 / span 6; grid-column: 1 / -1" {
		t.Errorf("full-width style: %q", got)
	}
}

// A booking's wall-clock minutes on a day of the business's zone: the part on that day, and
// its real length on a day the clocks go back.
func TestWallSpan(t *testing.T) {
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	day := domain.Date{Year: 2026, Month: time.March, Day: 10}
	at := func(d domain.Date, clock string) time.Time {
		m, _ := domain.ParseClock(clock)
		return d.At(m, madrid)
	}
	fallBack := domain.Date{Year: 2026, Month: time.October, Day: 25} // 03:00 back to 02:00
	firstTwoThirty := at(fallBack, "02:30")
	for name, c := range map[string]struct {
		d          domain.Date
		start, end time.Time
		want       domain.Interval
		ok         bool
	}{
		"OK":                      {day, at(day, "10:00"), at(day, "11:30"), iv("10:00", "11:30"), true},
		"UTCIsNotTheZone":         {day, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC), iv("10:00", "11:00"), true},
		"RunsPastMidnight":        {day, at(day, "23:00"), at(day.AddDays(1), "01:00"), iv("23:00", "24:00"), true},
		"FromTheDayBefore":        {day.AddDays(1), at(day, "23:00"), at(day.AddDays(1), "01:00"), iv("00:00", "01:00"), true},
		"EndsAtMidnight":          {day.AddDays(1), at(day, "23:00"), at(day.AddDays(1), "00:00"), domain.Interval{}, false},
		"AnotherDay":              {day.AddDays(2), at(day, "10:00"), at(day, "11:00"), domain.Interval{}, false},
		"WholeDays":               {day, at(day.AddDays(-1), "12:00"), at(day.AddDays(1), "12:00"), iv("00:00", "24:00"), true},
		"SecondsRoundUp":          {day, at(day, "10:00"), at(day, "10:00").Add(90 * time.Second), iv("10:00", "10:02"), true},
		"Empty":                   {day, at(day, "10:00"), at(day, "10:00"), domain.Interval{}, false},
		"RepeatedHourKeepsLength": {fallBack, firstTwoThirty, firstTwoThirty.Add(time.Hour), iv("02:30", "03:30"), true},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := wallSpan(c.d, c.start, c.end, madrid)
			if got != c.want || ok != c.ok {
				t.Errorf("wallSpan = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// Overlapping bookings stand side by side; one that starts as another ends reuses its lane.
func TestGridLanes(t *testing.T) {
	spans := []domain.Interval{iv("10:00", "11:00"), iv("09:00", "10:00"), iv("09:30", "10:30"), iv("10:30", "11:00"), iv("12:00", "13:00")}
	lanes, n := gridLanes(spans)
	if want := []int{1, 1, 2, 2, 1}; !slices.Equal(lanes, want) || n != 2 {
		t.Errorf("lanes %v (%d), want %v (2)", lanes, n, want)
	}
	if _, n := gridLanes(nil); n != 1 {
		t.Errorf("no bookings: %d lanes, want 1", n)
	}
	for i := range spans {
		for j := range spans {
			if i != j && lanes[i] == lanes[j] && spans[i].Start < spans[j].End && spans[j].Start < spans[i].End {
				t.Errorf("%v and %v overlap in lane %d", spans[i], spans[j], lanes[i])
			}
		}
	}
}

// Breaks are the gaps between working intervals; the union of several people's hours is when
// anyone works.
func TestGapsAndUnion(t *testing.T) {
	if got := gaps([]domain.Interval{iv("09:00", "13:00"), iv("14:00", "18:00"), iv("18:00", "20:00")}); !slices.Equal(got, []domain.Interval{iv("13:00", "14:00")}) {
		t.Errorf("gaps: %v", got)
	}
	got := unionIntervals([]domain.Interval{iv("14:00", "18:00"), iv("09:00", "13:00"), iv("12:00", "15:00"), iv("19:00", "20:00")})
	if want := []domain.Interval{iv("09:00", "18:00"), iv("19:00", "20:00")}; !slices.Equal(got, want) {
		t.Errorf("union: %v, want %v", got, want)
	}
}
