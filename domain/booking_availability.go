package domain

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AvailabilityQuery asks for the free slots of a service over dates.
type AvailabilityQuery struct {
	ServiceID int64
	StaffID   int64 // 0: anyone who offers the service
	From, To  Date  // inclusive, in the business's zone; at most 62 days
	Seats     int   // for classes; 0 means 1
}

// MaxAvailabilityDays bounds one availability query.
const MaxAvailabilityDays = 62

// Availability returns the free slots for q, reading only the rows of the requested window. The
// days' slots may be shared with other requests (availabilitycache.go): read them, never change
// them. Errors: EINVALID (dates, seats), ENOTFOUND (service, or a staff member who does not offer it).
func (s *Store) Availability(ctx context.Context, q AvailabilityQuery) ([]Day, error) {
	return s.cachedAvailability(ctx, q)
}

// RescheduleAvailability is Availability for moving the booking that token opens to another
// time: that booking's own time does not block, since the move frees it (as RescheduleByToken
// checks it). The service is the booking's, whatever q says. Errors: those of Availability, and
// ENOTFOUND for a token that opens no booking.
func (s *Store) RescheduleAvailability(ctx context.Context, token ManageToken, q AvailabilityQuery) ([]Day, error) {
	id, err := bookingIDByToken(ctx, s.r, token)
	if err != nil {
		return nil, err
	}
	b, err := booking(ctx, s.r, id)
	if err != nil {
		return nil, fmt.Errorf("read booking %d to reschedule: %w", id, err)
	}
	cat, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	q.ServiceID = b.ServiceID
	days, _, err := s.availability(ctx, s.r, cat, q, b.ID, false)
	return days, err
}

// availability computes q on db (a reader, or the booking transaction with the catalog read in
// it), leaving out booking exclude (the one being rescheduled) and, for staff, ignoring minimum
// notice. Each day comes with how long its answer lasts as the clock moves (computeAvailability).
func (s *Store) availability(ctx context.Context, db querier, cat *catalog, q AvailabilityQuery, exclude int64, ignoreNotice bool) ([]Day, []int64, error) {
	if q.To.Before(q.From) {
		return nil, nil, Invalid("to", "to (%s) is before from (%s)", q.To, q.From)
	}
	if q.From.AddDays(MaxAvailabilityDays - 1).Before(q.To) {
		return nil, nil, Invalid("to", "ask for at most %d days at a time", MaxAvailabilityDays)
	}
	svc, err := cat.service(q.ServiceID)
	if err != nil {
		return nil, nil, err
	}
	st := cat.settings
	if !svc.Active {
		return nil, nil, Errorf(ENOTFOUND, "service %d is not available for booking", q.ServiceID)
	}
	if q.Seats > max(svc.Capacity, 1) {
		return nil, nil, Invalid("seats", "at most %d seats can be booked at once", svc.Capacity)
	}
	step, notice, horizon := st.SlotStep, st.MinNotice, st.Horizon
	if svc.SlotStep != nil {
		step = *svc.SlotStep
	}
	if svc.MinNotice != nil {
		notice = *svc.MinNotice
	}
	if svc.Horizon != nil {
		horizon = *svc.Horizon
	}
	if ignoreNotice {
		notice = 0
	}
	now := s.now()

	staffIDs := svc.StaffIDs
	if q.StaffID != 0 {
		if !slices.Contains(svc.StaffIDs, q.StaffID) {
			return nil, nil, Errorf(ENOTFOUND, "staff member %d does not offer %s", q.StaffID, svc.Name)
		}
		staffIDs = []int64{q.StaffID}
	}
	// The window in instants, widened by a day on each side for zone offsets and buffers.
	from := q.From.AddDays(-1).At(0, s.loc)
	to := q.To.AddDays(2).At(0, s.loc)
	cals, err := s.staffCalendars(ctx, db, cat, svc, staffIDs, q.From, q.To, from, to, exclude)
	if err != nil {
		return nil, nil, err
	}
	res := map[int64][]Busy{}
	for _, rid := range svc.ResourceIDs {
		if res[rid], err = resourceBusy(ctx, db, rid, from, to, exclude); err != nil {
			return nil, nil, err
		}
	}
	days, lives := computeAvailability(AvailabilityInput{
		Service: svc, Step: step, Earliest: now.Add(notice), Latest: now.Add(horizon),
		Location: s.loc, From: q.From, To: q.To, Seats: max(q.Seats, 1), Staff: cals, Resources: res,
	})
	return days, lives, nil
}

// staffCalendars loads the active staff among ids with their overrides, time off and bookings
// in the window: one query each, whatever the number of staff.
func (s *Store) staffCalendars(ctx context.Context, db querier, cat *catalog, svc Service, ids []int64, fromDate, toDate Date, from, to time.Time, exclude int64) ([]StaffCalendar, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in, args := inList(ids)
	staff := matching(cat.staff, func(st Staff) bool { return st.Active && slices.Contains(ids, st.ID) })
	var err error
	cals := make([]StaffCalendar, len(staff))
	byID := map[int64]*StaffCalendar{}
	for i, st := range staff {
		cals[i] = StaffCalendar{Staff: st, Overrides: map[Date][]Interval{}}
		byID[st.ID] = &cals[i]
	}

	err = each(ctx, db, func(rows *sql.Rows) error {
		var id int64
		var ds, ivs string
		var iv []Interval
		if err := rows.Scan(&id, &ds, &ivs); err != nil {
			return err
		}
		d, err := ParseDate(ds)
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(ivs), &iv); err != nil {
			return err
		}
		if c := byID[id]; c != nil {
			c.Overrides[d] = iv
		}
		return nil
	}, `SELECT staff_id, date, intervals FROM staff_date_overrides WHERE staff_id IN `+in+` AND date BETWEEN ? AND ?`,
		append(args, fromDate.String(), toDate.String())...)
	if err != nil {
		return nil, fmt.Errorf("read date overrides: %w", err)
	}

	err = each(ctx, db, func(rows *sql.Rows) error {
		var id, a, b int64
		if err := rows.Scan(&id, &a, &b); err != nil {
			return err
		}
		if c := byID[id]; c != nil {
			c.TimeOff = append(c.TimeOff, Span{time.Unix(a, 0), time.Unix(b, 0)})
		}
		return nil
	}, `SELECT staff_id, start_at, end_at FROM staff_time_off WHERE staff_id IN `+in+` AND end_at > ? AND start_at < ?`,
		append(args, from.Unix(), to.Unix())...)
	if err != nil {
		return nil, fmt.Errorf("read time off: %w", err)
	}

	// The index orders a staff member's bookings by block_end. A booking that overlaps the window
	// starts before its end and blocks at most maxBlock, so it also ends before to+maxBlock: with
	// that bound the search reads the window's bookings, not every booking after it.
	// Bookings are the bulk of the window (thousands for a busy month). Those that simply block
	// time come back as one packed row of "start end" pairs per staff member, which SQLite builds
	// far faster than database/sql scans rows; only sessions of the class being booked, which
	// can share their slot, come back whole.
	class := svc.Capacity > 1
	err = each(ctx, db, func(rows *sql.Rows) error {
		var id int64
		var packed string
		if err := rows.Scan(&id, &packed); err != nil {
			return err
		}
		c := byID[id]
		if c == nil {
			return nil
		}
		f := strings.Fields(packed)
		c.Busy = make([]Busy, 0, len(f)/2)
		for i := 0; i+1 < len(f); i += 2 {
			a, err1 := strconv.ParseInt(f[i], 10, 64)
			b, err2 := strconv.ParseInt(f[i+1], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("packed bookings of staff %d: %w", id, err)
			}
			c.Busy = append(c.Busy, Busy{Block: Span{time.Unix(a, 0), time.Unix(b, 0)}, StaffID: id, Seats: 1})
		}
		return nil
	}, `SELECT staff_id, group_concat(block_start || ' ' || block_end, ' ') FROM bookings
		WHERE staff_id IN `+in+` AND `+holdsTime+` AND block_end > ? AND block_end < ? AND block_start < ? AND id <> ?
		AND NOT (? AND service_id = ?) GROUP BY staff_id`, append(args, from.Unix(), to.Add(maxBlock).Unix(), to.Unix(), exclude, class, svc.ID)...)
	if err != nil {
		return nil, fmt.Errorf("read bookings: %w", err)
	}
	if class {
		sessions, err := busy(ctx, db, `SELECT block_start, block_end, start_at, service_id, staff_id, seats FROM bookings
			WHERE staff_id IN `+in+` AND `+holdsTime+` AND block_end > ? AND block_end < ? AND block_start < ? AND id <> ? AND service_id = ?`,
			append(args, from.Unix(), to.Add(maxBlock).Unix(), to.Unix(), exclude, svc.ID)...)
		if err != nil {
			return nil, fmt.Errorf("read class sessions: %w", err)
		}
		for _, b := range sessions {
			if c := byID[b.StaffID]; c != nil {
				c.Busy = append(c.Busy, b)
			}
		}
	}
	return cals, nil
}

func resourceBusy(ctx context.Context, db querier, rid int64, from, to time.Time, exclude int64) ([]Busy, error) {
	return busy(ctx, db, `SELECT b.block_start, b.block_end, b.start_at, b.service_id, b.staff_id, b.seats
		FROM booking_resources r JOIN bookings b ON b.id = r.booking_id
		WHERE r.resource_id = ? AND `+holdsTime+` AND b.block_end > ? AND b.block_start < ? AND b.id <> ?`,
		rid, from.Unix(), to.Unix(), exclude)
}

func busy(ctx context.Context, db querier, query string, args ...any) ([]Busy, error) {
	var out []Busy
	err := each(ctx, db, func(rows *sql.Rows) error {
		var bs, be, st int64
		var b Busy
		if err := rows.Scan(&bs, &be, &st, &b.ServiceID, &b.StaffID, &b.Seats); err != nil {
			return err
		}
		b.Block, b.Start = Span{time.Unix(bs, 0), time.Unix(be, 0)}, time.Unix(st, 0)
		out = append(out, b)
		return nil
	}, query, args...)
	return out, err
}
