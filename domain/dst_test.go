package domain_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// utc parses a hand-written UTC instant "2006-01-02 15:04".
func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// dstEdges are wall-clock intervals on the days clocks change, with their instants written out
// by hand from the zones' rules (not computed with the code under test): a wall time repeated
// by a fall-back is its first pass, one skipped by a spring-forward is the transition.
var dstEdges = []struct {
	name, zone, day string
	from, to        string // wall clock, "24:00" for the end of the day
	start, end      string // the instants, UTC
}{
	// New York, 2027-03-14: 02:00 EST (-5) becomes 03:00 EDT (-4) at 07:00Z.
	{"NewYork/GapStart", "America/New_York", "2027-03-14", "02:00", "05:00", "2027-03-14 07:00", "2027-03-14 09:00"},
	{"NewYork/GapMiddle", "America/New_York", "2027-03-14", "02:30", "05:00", "2027-03-14 07:00", "2027-03-14 09:00"},
	{"NewYork/GapEnd", "America/New_York", "2027-03-14", "00:00", "02:30", "2027-03-14 05:00", "2027-03-14 07:00"},
	{"NewYork/AcrossGap", "America/New_York", "2027-03-14", "00:00", "04:00", "2027-03-14 05:00", "2027-03-14 08:00"},
	// New York, 2027-11-07: 02:00 EDT becomes 01:00 EST at 06:00Z; 01:00 is first at 05:00Z.
	{"NewYork/FallBackStart", "America/New_York", "2027-11-07", "01:00", "03:00", "2027-11-07 05:00", "2027-11-07 08:00"},
	{"NewYork/FallBackMiddle", "America/New_York", "2027-11-07", "01:30", "03:00", "2027-11-07 05:30", "2027-11-07 08:00"},
	// Havana, 2027-03-14: midnight CST (-5) becomes 01:00 CDT (-4) at 05:00Z.
	{"Havana/GapAtMidnight", "America/Havana", "2027-03-14", "00:00", "04:00", "2027-03-14 05:00", "2027-03-14 08:00"},
	// Havana, 2027-11-07: 01:00 CDT becomes 00:00 CST at 05:00Z; midnight is first at 04:00Z.
	{"Havana/FallBackAtMidnight", "America/Havana", "2027-11-07", "00:00", "02:00", "2027-11-07 04:00", "2027-11-07 07:00"},
	// Santiago, Saturday 2027-09-04 24:00 (-4) becomes Sunday 01:00 (-3) at 04:00Z.
	{"Santiago/EndAt24BeforeGap", "America/Santiago", "2027-09-04", "21:00", "24:00", "2027-09-05 01:00", "2027-09-05 04:00"},
	{"Santiago/GapAtMidnight", "America/Santiago", "2027-09-05", "00:00", "04:00", "2027-09-05 04:00", "2027-09-05 07:00"},
	// Santiago, Saturday 2027-04-03 24:00 (-3) becomes 23:00 (-4) at 03:00Z: 23:00 comes twice and
	// Sunday's midnight once, at 04:00Z.
	{"Santiago/EndAt24AfterFallBack", "America/Santiago", "2027-04-03", "22:00", "24:00", "2027-04-04 01:00", "2027-04-04 04:00"},
	{"Santiago/FallBackStart", "America/Santiago", "2027-04-03", "23:00", "24:00", "2027-04-04 02:00", "2027-04-04 04:00"},
	// London, 2027-03-28: 01:00 GMT becomes 02:00 BST at 01:00Z.
	{"London/GapStart", "Europe/London", "2027-03-28", "01:30", "04:00", "2027-03-28 01:00", "2027-03-28 03:00"},
	// London, 2027-10-31: 02:00 BST becomes 01:00 GMT at 01:00Z; 01:00 is first at 00:00Z.
	{"London/FallBackStart", "Europe/London", "2027-10-31", "01:00", "03:00", "2027-10-31 00:00", "2027-10-31 03:00"},
	{"London/FallBackMiddle", "Europe/London", "2027-10-31", "01:30", "03:00", "2027-10-31 00:30", "2027-10-31 03:00"},
	// Lord Howe (30-minute change), 2027-10-03: 02:00 (+10:30) becomes 02:30 (+11) at 15:30Z.
	{"LordHowe/GapMiddle", "Australia/Lord_Howe", "2027-10-03", "02:15", "04:00", "2027-10-02 15:30", "2027-10-02 17:00"},
	// Lord Howe, 2027-04-04: 02:00 (+11) becomes 01:30 (+10:30) at 15:00Z; 01:45 is first at 14:45Z.
	{"LordHowe/FallBackStart", "Australia/Lord_Howe", "2027-04-04", "01:45", "03:00", "2027-04-03 14:45", "2027-04-03 16:30"},
	// Chatham (45-minute offsets), 2027-09-26: 02:45 (+12:45) becomes 03:45 (+13:45) at 14:00Z.
	{"Chatham/GapMiddle", "Pacific/Chatham", "2027-09-26", "03:00", "05:00", "2027-09-25 14:00", "2027-09-25 15:15"},
	// Chatham, 2027-04-04: 03:45 (+13:45) becomes 02:45 (+12:45) at 14:00Z; 03:00 is first at 13:15Z.
	{"Chatham/FallBackStart", "Pacific/Chatham", "2027-04-04", "03:00", "05:00", "2027-04-03 13:15", "2027-04-03 16:15"},
	// Kathmandu (+05:45, no DST): an ordinary day.
	{"Kathmandu/Plain", "Asia/Kathmandu", "2027-03-14", "09:00", "24:00", "2027-03-14 03:15", "2027-03-14 18:15"},
}

func TestDateSpanAtDSTEdges(t *testing.T) {
	for _, c := range dstEdges {
		t.Run(c.name, func(t *testing.T) {
			loc, err := time.LoadLocation(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			sp := date(c.day).Span(iv(c.from, c.to), loc)
			if want := utc(c.start); !sp.Start.Equal(want) {
				t.Errorf("%s %s starts at %s, want %s", c.day, c.from, sp.Start.UTC().Format(time.DateTime), want.Format(time.DateTime))
			}
			if want := utc(c.end); !sp.End.Equal(want) {
				t.Errorf("%s %s ends at %s, want %s", c.day, c.to, sp.End.UTC().Format(time.DateTime), want.Format(time.DateTime))
			}
		})
	}
}

// Slots on the days clocks change: they step in real time from the interval's first instant,
// every one inside the interval's instants as written out by hand, each instant once, and a
// query of the day and its neighbours offers nothing on any other day.
func TestAvailabilityAtDSTEdges(t *testing.T) {
	for _, c := range dstEdges {
		t.Run(c.name, func(t *testing.T) {
			loc, err := time.LoadLocation(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			d := date(c.day)
			var h domain.WeeklyHours
			h[d.Weekday()] = []domain.Interval{iv(c.from, c.to)}
			svc := domain.Service{ID: 1, Duration: 15 * time.Minute, Capacity: 1}
			days := domain.ComputeAvailability(domain.AvailabilityInput{
				Service: svc, Step: 15 * time.Minute, Location: loc, From: d.AddDays(-6), To: d.AddDays(6),
				Earliest: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Latest: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
				Staff: []domain.StaffCalendar{{Staff: domain.Staff{ID: 7, Hours: h}}},
			})
			start, end := utc(c.start), utc(c.end)
			want := int(end.Sub(start) / (15 * time.Minute))
			for _, day := range days {
				if day.Date != d {
					if len(day.Slots) != 0 {
						t.Errorf("%s (a week day without hours) has %d slots", day.Date, len(day.Slots))
					}
					continue
				}
				if len(day.Slots) != want {
					t.Errorf("%d slots, want %d", len(day.Slots), want)
				}
				for i, sl := range day.Slots {
					if wantAt := start.Add(time.Duration(i) * 15 * time.Minute); !sl.Start.Equal(wantAt) {
						t.Errorf("slot %d starts at %s, want %s", i, sl.Start.UTC(), wantAt)
					}
					if sl.End.After(end) || domain.DateOf(sl.Start.In(loc)) != d {
						t.Errorf("slot %s (%s) is outside %s %s–%s", sl.Start.UTC(), sl.Start.In(loc), c.day, c.from, c.to)
					}
				}
			}
		})
	}
}

// Working all day every day of a year, in zones either side of UTC with every kind of change,
// each day's slots are that day's and only those: together they tile the year, each instant once.
func TestAvailabilityDaysTileTheYear(t *testing.T) {
	zones := []string{"America/New_York", "America/Havana", "America/Santiago", "Europe/London",
		"Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kathmandu", "America/Sao_Paulo", "Asia/Tehran"}
	for _, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			from := date("2027-01-01")
			staff := domain.Staff{ID: 7, Hours: hours(everyDay, iv("00:00", "24:00"))}
			svc := domain.Service{ID: 1, Duration: 15 * time.Minute, Capacity: 1}
			next := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
			for d := from; d.Year == 2027; d = d.AddDays(1) {
				days := domain.ComputeAvailability(domain.AvailabilityInput{
					Service: svc, Step: 15 * time.Minute, Location: loc, From: d, To: d,
					Earliest: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Latest: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
					Staff: []domain.StaffCalendar{{Staff: staff}},
				})
				for _, sl := range days[0].Slots {
					if !sl.Start.Equal(next) || domain.DateOf(sl.Start.In(loc)) != d {
						t.Fatalf("%s: slot %s (%s), want %s", d, sl.Start.UTC(), sl.Start.In(loc), next.UTC())
					}
					next = sl.End
				}
			}
			if want := time.Date(2028, 1, 1, 0, 0, 0, 0, loc); !next.Equal(want) {
				t.Errorf("the year's slots end at %s, want %s", next, want)
			}
		})
	}
}

// The cases through the store: the listing and the booking check agree, nothing before
// the working hours is offered or booked on the day clocks change, and the days around it (the
// staff member works that weekday only) offer nothing.
func TestBookingAtDSTEdges(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, zone, day string
		from, to        string
		now             time.Time
		want            []string // slot starts, UTC "15:04" on the day's instants
		refuse          []string // UTC instants "2006-01-02 15:04" that must not be booked
	}{
		{"NewYork", "America/New_York", "2027-03-14", "02:00", "05:00", utc("2027-03-01 12:00"),
			[]string{"2027-03-14 07:00", "2027-03-14 08:00"},
			[]string{"2027-03-14 05:00", "2027-03-14 06:00", "2027-03-14 06:30"}},
		{"Havana", "America/Havana", "2027-03-14", "00:00", "04:00", utc("2027-03-01 12:00"),
			[]string{"2027-03-14 05:00", "2027-03-14 06:00", "2027-03-14 07:00"},
			[]string{"2027-03-14 04:00", "2027-03-13 05:00"}},
		{"SantiagoSunday", "America/Santiago", "2027-09-05", "00:00", "04:00", utc("2027-08-20 12:00"),
			[]string{"2027-09-05 04:00", "2027-09-05 05:00", "2027-09-05 06:00"},
			[]string{"2027-09-05 03:00", "2027-09-04 04:00"}},
		{"SantiagoSaturdayTo24", "America/Santiago", "2027-09-04", "21:00", "24:00", utc("2027-08-20 12:00"),
			[]string{"2027-09-05 01:00", "2027-09-05 02:00", "2027-09-05 03:00"},
			[]string{"2027-09-05 04:00"}},
		{"LondonFallBack", "Europe/London", "2027-10-31", "01:00", "03:00", utc("2027-10-20 12:00"),
			[]string{"2027-10-31 00:00", "2027-10-31 01:00", "2027-10-31 02:00"},
			[]string{"2027-10-30 23:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := mustOpenStore(t, c.zone, c.now)
			loc, err := time.LoadLocation(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			d := date(c.day)
			ana := mustStaff(t, s, "Ana", hours([]time.Weekday{d.Weekday()}, iv(c.from, c.to)))
			svc := mustService(t, s, domain.Service{Duration: time.Hour, StaffIDs: []int64{ana}})
			mustSettings(t, s, func(st *domain.Settings) { st.SlotStep = time.Hour; st.MinNotice = 0 })
			days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: svc, From: d.AddDays(-6), To: d.AddDays(6)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, day := range days {
				for _, sl := range day.Slots {
					if day.Date != d || domain.DateOf(sl.Start.In(loc)) != d {
						t.Errorf("%s offers %s (%s)", day.Date, sl.Start.UTC(), sl.Start.In(loc))
					}
					got = append(got, sl.Start.UTC().Format("2006-01-02 15:04"))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("slots %v, want %v", got, c.want)
			}
			for i, r := range c.refuse {
				_, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: utc(r), Customer: customer(i)})
				if domain.ErrorCode(err) != domain.ESLOTUNAVAILABLE {
					t.Errorf("booking %s (%s): %v, want SLOT_UNAVAILABLE", r, utc(r).In(loc), err)
				}
			}
			for i, w := range c.want {
				if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: svc, StaffID: ana, Start: utc(w), Customer: customer(10 + i)}); err != nil {
					t.Errorf("booking %s (%s): %v", w, utc(w).In(loc), err)
				}
			}
		})
	}
}
