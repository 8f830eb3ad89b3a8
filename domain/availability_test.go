package domain_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// The real 2026 transitions: 09:00 stays 09:00 local, a spring-forward gap yields no slot, and
// a fall-back repeated hour yields each instant once.
func TestAvailabilityDST(t *testing.T) {
	cases := []struct {
		zone, day string
		shift     time.Duration // + spring forward (hour lost), - fall back (hour repeated)
		gapLabel  string        // a wall time that does not exist that day
	}{
		{"Europe/Madrid", "2026-03-29", time.Hour, "02:30"},
		{"Europe/Madrid", "2026-10-25", -time.Hour, ""},
		{"America/New_York", "2026-03-08", time.Hour, "02:00"},
		{"America/New_York", "2026-11-01", -time.Hour, ""},
		{"Australia/Lord_Howe", "2026-10-04", 30 * time.Minute, "02:00"},
		{"Australia/Lord_Howe", "2026-04-05", -30 * time.Minute, ""},
	}
	for _, c := range cases {
		t.Run(c.zone+"/"+c.day, func(t *testing.T) {
			loc, err := time.LoadLocation(c.zone)
			if err != nil {
				t.Fatal(err)
			}
			d := date(c.day)
			svc := domain.Service{ID: 1, Duration: 30 * time.Minute, Capacity: 1}
			staff := domain.Staff{ID: 7, Hours: hours(everyDay, iv("00:00", "06:00"), iv("09:00", "12:00"))}
			days := domain.ComputeAvailability(domain.AvailabilityInput{
				Service: svc, Step: 30 * time.Minute, Location: loc, From: d.AddDays(-1), To: d.AddDays(1),
				Earliest: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Latest: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
				Staff: []domain.StaffCalendar{{Staff: staff}},
			})
			if len(days) != 3 {
				t.Fatalf("%d days", len(days))
			}
			normal, dst := days[0], days[1]
			if len(normal.Slots) != 12+6 {
				t.Errorf("the day before has %d slots, want 18", len(normal.Slots))
			}
			// Night shift: its real length changes by the shift; every slot is a distinct instant.
			wantNight := int((6*time.Hour - c.shift) / (30 * time.Minute))
			var night []domain.Slot
			seen := map[int64]bool{}
			for _, s := range dst.Slots {
				if seen[s.Start.Unix()] {
					t.Errorf("instant %s offered twice", s.Start)
				}
				seen[s.Start.Unix()] = true
				if s.End.Sub(s.Start) != 30*time.Minute {
					t.Errorf("slot %s lasts %s", s.Start, s.End.Sub(s.Start))
				}
				if s.Start.Before(d.At(360, loc)) {
					night = append(night, s)
				}
			}
			if len(night) != wantNight {
				t.Errorf("night shift has %d slots, want %d: %v", len(night), wantNight, starts(dst, loc))
			}
			if c.gapLabel != "" && slices.Contains(starts(dst, loc), c.gapLabel) {
				t.Errorf("a slot at %s, which does not exist on %s", c.gapLabel, c.day)
			}
			// Morning: 09:00 local on the day clocks change, exactly like any other day.
			morning := dst.Slots[len(night):]
			if got := starts(domain.Day{Slots: morning}, loc); !slices.Equal(got, []string{"09:00", "09:30", "10:00", "10:30", "11:00", "11:30"}) {
				t.Errorf("morning slots %v", got)
			}
			nine := morning[0].Start.In(loc)
			if nine.Hour() != 9 || nine.Minute() != 0 || !nine.Equal(time.Date(nine.Year(), nine.Month(), nine.Day(), 9, 0, 0, 0, loc)) {
				t.Errorf("first morning slot is %s", nine)
			}
		})
	}
}

// monday is 2026-06-01, a Monday; the tests' clock starts at 06:00 that day in Madrid.
var (
	madrid, _ = time.LoadLocation("Europe/Madrid")
	monday    = time.Date(2026, 6, 1, 6, 0, 0, 0, madrid)
)

func at(day domain.Date, hhmm string) time.Time {
	t, _ := time.Parse("15:04", hhmm)
	return day.At(t.Hour()*60+t.Minute(), madrid)
}

func TestAvailability(t *testing.T) {
	ctx := context.Background()
	s, clk := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "13:00"), iv("14:00", "18:00")))
	ben := mustStaff(t, s, "Ben", hours(weekdays, iv("09:00", "13:00")))
	cut := mustService(t, s, domain.Service{Duration: time.Hour, StaffIDs: []int64{ana, ben}})
	mon, tue := date("2026-06-01"), date("2026-06-02")

	avail := func(t *testing.T, q domain.AvailabilityQuery) []domain.Day {
		t.Helper()
		days, err := s.Availability(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return days
	}
	t.Run("HoursAndBreaks", func(t *testing.T) {
		days := avail(t, domain.AvailabilityQuery{ServiceID: cut, StaffID: ana, From: tue, To: tue})
		want := []string{"09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30", "11:45", "12:00",
			"14:00", "14:15", "14:30", "14:45", "15:00", "15:15", "15:30", "15:45", "16:00", "16:15", "16:30", "16:45", "17:00"}
		if got := starts(days[0], madrid); !slices.Equal(got, want) || days[0].Status != domain.DayOpen {
			t.Errorf("%s %v", days[0].Status, got)
		}
	})
	t.Run("MinimumNotice", func(t *testing.T) {
		// Now is 06:00 and notice is 2 h: nothing before 08:00, so from 09:00 on Monday.
		clk.Set(at(mon, "09:40"))
		defer clk.Set(monday)
		days := avail(t, domain.AvailabilityQuery{ServiceID: cut, StaffID: ben, From: mon, To: mon})
		if got := starts(days[0], madrid); !slices.Equal(got, []string{"11:45", "12:00"}) {
			t.Errorf("with now 09:40 and 2 h notice: %v", got)
		}
	})
	t.Run("Horizon", func(t *testing.T) {
		days := avail(t, domain.AvailabilityQuery{ServiceID: cut, From: date("2026-07-30"), To: date("2026-08-01")})
		// The horizon is 60 days from Monday 06:00: July 31 06:00. July 30 is open, July 31 is
		// past the horizon before any working hour, August 1 is a Saturday.
		if days[0].Status != domain.DayOpen || days[1].Status != domain.DayClosed || days[2].Status != domain.DayClosed {
			t.Errorf("statuses %s %s %s", days[0].Status, days[1].Status, days[2].Status)
		}
	})
	t.Run("WeekendClosed", func(t *testing.T) {
		days := avail(t, domain.AvailabilityQuery{ServiceID: cut, From: date("2026-06-06"), To: date("2026-06-07")})
		for _, d := range days {
			if d.Status != domain.DayClosed || len(d.Slots) != 0 {
				t.Errorf("%s: %s with %d slots", d.Date, d.Status, len(d.Slots))
			}
		}
	})
	t.Run("OverrideAndTimeOff", func(t *testing.T) {
		wed, thu := date("2026-06-03"), date("2026-06-04")
		if err := s.SetDateOverride(ctx, domain.DateOverride{StaffID: ben, Date: wed, Intervals: []domain.Interval{iv("16:00", "18:00")}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDateOverride(ctx, domain.DateOverride{StaffID: ben, Date: thu}); err != nil { // closed
			t.Fatal(err)
		}
		if _, err := s.AddTimeOff(ctx, domain.TimeOff{StaffID: ben, Start: at(wed, "16:30"), End: at(wed, "17:00"), Reason: "dentist"}); err != nil {
			t.Fatal(err)
		}
		days := avail(t, domain.AvailabilityQuery{ServiceID: cut, StaffID: ben, From: wed, To: thu})
		if got := starts(days[0], madrid); !slices.Equal(got, []string{"17:00"}) {
			t.Errorf("override 16–18 with time off 16:30–17:00: %v", got)
		}
		if days[1].Status != domain.DayClosed {
			t.Errorf("closed override: %s", days[1].Status)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: cut, From: tue, To: mon})
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("to before from: %v", err)
		}
		_, err = s.Availability(ctx, domain.AvailabilityQuery{ServiceID: cut, From: mon, To: mon.AddDays(90)})
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("90 days: %v", err)
		}
		_, err = s.Availability(ctx, domain.AvailabilityQuery{ServiceID: 999, From: mon, To: mon})
		if domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("unknown service: %v", err)
		}
	})
}

// Buffers on both sides: a booking blocks its staff member for its buffers too, and a new slot
// needs room for its own buffers.
func TestAvailabilityBuffers(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("09:00", "13:00")))
	color := mustService(t, s, domain.Service{Name: "Colour", Duration: time.Hour, BufferBefore: 15 * time.Minute,
		BufferAfter: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: color, StaffID: ana, Start: at(tue, "10:30"), Customer: customer(1)}); err != nil {
		t.Fatal(err)
	}
	// The booking blocks 10:15–12:00. Another colour at t blocks t-15 min to t+90 min and must
	// end its hour by 13:00, so t <= 12:00; it clears the block only when t+90 <= 10:15 (before
	// opening) or t-15 >= 12:00 (too late to end by 13:00). The morning is full.
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: color, StaffID: ana, From: tue, To: tue})
	if err != nil {
		t.Fatal(err)
	}
	if got := starts(days[0], madrid); len(got) != 0 || days[0].Status != domain.DayFull {
		t.Errorf("%s %v, want FULL", days[0].Status, got)
	}
	// A 30-minute service without buffers fits around the block: before 10:15 and from 12:00.
	trim := mustService(t, s, domain.Service{Name: "Trim", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	days, err = s.Availability(ctx, domain.AvailabilityQuery{ServiceID: trim, StaffID: ana, From: tue, To: tue})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"09:00", "09:15", "09:30", "09:45", "12:00", "12:15", "12:30"}
	if got := starts(days[0], madrid); !slices.Equal(got, want) {
		t.Errorf("trim slots %v, want %v", got, want)
	}
}

// The longest booking there can be (12 hours and two 4-hour buffers) blocks its staff member's
// time past midnight, asked for that day alone and the next (the search bounds a booking's end by
// that length; the window's padding would hide a tighter bound, TestAvailabilityIndexCovers
// checks the search itself).
func TestLongestBookingBlocksPastTheWindow(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenStore(t, "Europe/Madrid", monday)
	ana := mustStaff(t, s, "Ana", hours(weekdays, iv("06:00", "23:30")))
	long := mustService(t, s, domain.Service{Name: "Marathon", Duration: 720 * time.Minute, BufferBefore: 240 * time.Minute,
		BufferAfter: 240 * time.Minute, StaffIDs: []int64{ana}})
	trim := mustService(t, s, domain.Service{Name: "Trim", Duration: 30 * time.Minute, StaffIDs: []int64{ana}})
	tue := date("2026-06-02")
	// 10:00–22:00, blocking 06:00 until 02:00 on Wednesday.
	if _, _, err := s.CreateBooking(ctx, domain.BookingRequest{ServiceID: long, StaffID: ana, Start: at(tue, "10:00"), Customer: customer(1)}); err != nil {
		t.Fatal(err)
	}
	// Asked alone, Tuesday's window ends at midnight, two hours before the block does.
	days, err := s.Availability(ctx, domain.AvailabilityQuery{ServiceID: trim, StaffID: ana, From: tue, To: tue})
	if err != nil {
		t.Fatal(err)
	}
	if got := starts(days[0], madrid); len(got) != 0 {
		t.Errorf("Tuesday offers %v; the booking blocks all of it", got)
	}
	days, err = s.Availability(ctx, domain.AvailabilityQuery{ServiceID: trim, StaffID: ana, From: tue.AddDays(1), To: tue.AddDays(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := starts(days[0], madrid); len(got) == 0 || got[0] != "06:00" {
		t.Errorf("Wednesday offers %v, want it to open at 06:00", got)
	}
}
