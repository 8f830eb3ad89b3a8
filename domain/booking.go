package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// inList returns "(?, ?, ?)" and the arguments for ids.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")", args
}

// each runs query and calls fn on every row.
func each(ctx context.Context, db querier, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
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

// BookingRequest asks for a booking.
type BookingRequest struct {
	ServiceID      int64
	StaffID        int64 // 0: anyone free
	Start          time.Time
	Customer       Customer
	Notes          string
	Seats          int    // classes; 0 means 1
	IdempotencyKey string // a retry with the same key returns the same booking
	// Staff creating a booking for a customer may ignore the minimum notice (never an overlap),
	// and may leave out the customer's email (a booking taken by phone: no mail is sent).
	OnBehalf bool
	Actor    Actor // who asks: ActorCustomer (when empty) or a StaffActor
	// Quiet books without queueing the confirmations, for data that is seeded (the demo) or
	// imported: nobody asked for those bookings just now. Reminders still come.
	Quiet bool
}

// ManageToken is the secret in a customer's private link to a booking. Only its hash is stored.
type ManageToken string

func newToken() ManageToken { return ManageToken(rand.Text() + rand.Text()) } // 2 x 128 bits

func (t ManageToken) hash() []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// CreateBooking books req if the slot is free, all in one write transaction: availability is
// computed again inside it, so no two bookings ever overlap (buffers included) and no class is
// oversold, however many requests race. It returns the booking and a new manage token.
// Errors: EINVALID, ENOTFOUND, ESLOTUNAVAILABLE.
func (s *Store) CreateBooking(ctx context.Context, req BookingRequest) (Booking, ManageToken, error) {
	// Staff taking a booking by phone or at the desk may have no email: such a customer is sent
	// no mail. A customer booking online gives one, for the confirmation and the private link.
	if err := req.Customer.validate(!req.OnBehalf); err != nil {
		return Booking{}, "", err
	}
	if utf8.RuneCountInString(req.Notes) > MaxNotesLen {
		return Booking{}, "", Invalid("notes", "notes must be at most %d characters", MaxNotesLen)
	}
	if len(req.IdempotencyKey) > MaxIdempotencyKeyLen {
		return Booking{}, "", Invalid("idempotencyKey", "idempotency key must be at most %d characters", MaxIdempotencyKeyLen)
	}
	if req.Start.IsZero() {
		return Booking{}, "", Invalid("start", "start is required")
	}
	if req.Actor == "" {
		req.Actor = ActorCustomer
	}
	req.Seats = max(req.Seats, 1)
	token := newToken()
	var b Booking
	err := s.inBookingTx(ctx, func(tx *sql.Tx) (err error) {
		now := s.now()
		if req.IdempotencyKey != "" {
			var found bool
			if b, found, err = replay(ctx, tx, req, token, now); found || err != nil {
				return err
			}
		}
		slot, svc, err := s.findSlot(ctx, tx, req.ServiceID, req.StaffID, req.Start, req.Seats, 0, req.OnBehalf)
		if err != nil {
			return err
		}
		cid, err := s.upsertCustomer(ctx, tx, req.Customer)
		if err != nil {
			return err
		}
		st, err := s.settingsIn(ctx, tx)
		if err != nil {
			return err
		}
		status := StatusConfirmed
		if st.RequireConfirmation && !req.OnBehalf {
			status = StatusPending
		}
		var key any
		if req.IdempotencyKey != "" {
			key = req.IdempotencyKey
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO bookings (service_id, staff_id, customer_id, start_at, end_at,
			block_start, block_end, status, seats, notes, customer_name, customer_email, customer_phone,
			idempotency_key, calendar_uid, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			svc.ID, slot.StaffID, cid, slot.Start.Unix(), slot.End.Unix(),
			slot.Start.Add(-svc.BufferBefore).Unix(), slot.End.Add(svc.BufferAfter).Unix(),
			status, req.Seats, req.Notes, req.Customer.Name, req.Customer.Email, req.Customer.Phone,
			key, strings.ToLower(rand.Text()), now.Unix(), now.Unix()).Scan(&id)
		if err != nil {
			return err
		}
		for _, rid := range svc.ResourceIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO booking_resources (booking_id, resource_id) VALUES (?, ?)`, id, rid); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_tokens (token_hash, booking_id, created_at) VALUES (?, ?, ?)`,
			token.hash(), id, now.Unix()); err != nil {
			return err
		}
		if err := addEvent(ctx, tx, id, EventCreated, req.Actor, map[string]any{"status": status}, now); err != nil {
			return err
		}
		if b, err = booking(ctx, tx, id); err != nil || req.Quiet {
			return err
		}
		return s.notify(ctx, tx, KindBookingCreated, b, token, now)
	})
	if err != nil {
		return Booking{}, "", wrap("create booking", err)
	}
	return b, token, nil
}

// replay returns the booking that req's idempotency key already made (found), with token as a
// new manage token for it. A retry must be the same request: same service, start and customer.
// Anything else with a used key is refused (EINVALID), so a key never opens someone else's
// booking.
func replay(ctx context.Context, tx *sql.Tx, req BookingRequest, token ManageToken, now time.Time) (b Booking, found bool, err error) {
	// A retry must be the same request: same service, start and customer (the contact as given
	// with the booking: its email, or its name when it had none). Anything else with a used key
	// is refused, so a key never opens someone else's booking.
	var id, serviceID, start int64
	var email, name string
	err = tx.QueryRowContext(ctx, `SELECT id, service_id, start_at, customer_email, customer_name FROM bookings
		WHERE idempotency_key = ?`, req.IdempotencyKey).Scan(&id, &serviceID, &start, &email, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	sameCustomer := email == req.Customer.Email && (email != "" || name == req.Customer.Name)
	if serviceID != req.ServiceID || start != req.Start.Unix() || !sameCustomer {
		return b, false, Invalid("idempotencyKey", "this idempotency key was used for a different booking; use a new random key for each booking")
	}
	if b, err = booking(ctx, tx, id); err != nil {
		return b, false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO booking_tokens (token_hash, booking_id, created_at) VALUES (?, ?, ?)`,
		token.hash(), id, now.Unix())
	return b, true, err
}

// maxReplayTokens bounds the manage links ReplayBooking makes for one booking.
const maxReplayTokens = 50

// ReplayBooking answers a retry of req (by its idempotency key) with the booking it already
// made and a new manage token, and books nothing: it serves a client whose retries are over its
// rate limit, whose first try may have succeeded. Errors: ENOTFOUND (no booking has the key),
// EINVALID (the key made a different booking).
func (s *Store) ReplayBooking(ctx context.Context, req BookingRequest) (Booking, ManageToken, error) {
	notFound := Errorf(ENOTFOUND, "no booking was made with this idempotency key")
	if req.IdempotencyKey == "" || len(req.IdempotencyKey) > MaxIdempotencyKeyLen {
		return Booking{}, "", notFound
	}
	// Whoever is over the limit gets no write (nor the writer's lock) without a booking to
	// replay, and a booking gets at most maxReplayTokens links this way.
	var tokens int
	err := s.r.QueryRowContext(ctx, `SELECT count(t.booking_id) FROM bookings b LEFT JOIN booking_tokens t ON t.booking_id = b.id
		WHERE b.idempotency_key = ? GROUP BY b.id`, req.IdempotencyKey).Scan(&tokens)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Booking{}, "", notFound
	case err != nil:
		return Booking{}, "", fmt.Errorf("replay booking: %w", err)
	case tokens >= maxReplayTokens:
		return Booking{}, "", Errorf(ECONFLICT, "this booking was asked for too many times; wait and try again")
	}
	token := newToken()
	var b Booking
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var found bool
		var err error
		if b, found, err = replay(ctx, tx, req, token, s.now()); err == nil && !found {
			return notFound
		}
		return err
	})
	if err != nil {
		return Booking{}, "", wrap("replay booking", err)
	}
	return b, token, nil
}

// findSlot checks, inside tx, that service serviceID can start at start with staffID (0: anyone)
// for seats, leaving out booking exclude, and returns the slot (with the staff member chosen).
func (s *Store) findSlot(ctx context.Context, tx *sql.Tx, serviceID, staffID int64, start time.Time, seats int, exclude int64, ignoreNotice bool) (Slot, Service, error) {
	cat, err := s.catalogIn(ctx, tx)
	if err != nil {
		return Slot{}, Service{}, err
	}
	svc, err := cat.service(serviceID)
	if err != nil {
		return Slot{}, svc, err
	}
	day := DateOf(start.In(s.loc))
	days, _, err := s.availability(ctx, tx, cat, AvailabilityQuery{ServiceID: serviceID, StaffID: staffID, From: day, To: day, Seats: seats}, exclude, ignoreNotice)
	if err != nil {
		return Slot{}, svc, err
	}
	for _, slot := range days[0].Slots {
		if slot.Start.Equal(start) {
			return slot, svc, nil
		}
	}
	when := start.In(s.loc).Format("Mon 2 Jan 15:04 MST")
	if !start.After(s.now()) {
		return Slot{}, svc, Errorf(ESLOTUNAVAILABLE, "%s has passed; please choose another time", when)
	}
	return Slot{}, svc, Errorf(ESLOTUNAVAILABLE, "%s at %s is no longer available; please choose another time", svc.Name, when)
}

func addEvent(ctx context.Context, tx *sql.Tx, bookingID int64, typ EventType, actor Actor, data map[string]any, at time.Time) error {
	js, _ := json.Marshal(data)
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_events (booking_id, type, actor, data, at) VALUES (?, ?, ?, ?, ?)`,
		bookingID, typ, actor, string(js), at.Unix())
	return err
}

// wrap adds what was being done to internal errors; user errors pass unchanged.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fmt.Errorf("%s: %w", what, err)
}

const bookingColumns = `id, service_id, staff_id, customer_id, start_at, end_at, status, seats, notes,
	customer_name, customer_email, customer_phone, cancel_reason, cancelled_by, calendar_uid, created_at, updated_at`

func scanBooking(row interface{ Scan(...any) error }) (Booking, error) {
	var b Booking
	var start, end, created, updated int64
	err := row.Scan(&b.ID, &b.ServiceID, &b.StaffID, &b.CustomerID, &start, &end, &b.Status, &b.Seats, &b.Notes,
		&b.Contact.Name, &b.Contact.Email, &b.Contact.Phone, &b.CancelReason, &b.CancelledBy, &b.CalendarUID, &created, &updated)
	b.Start, b.End = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	b.CreatedAt, b.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return b, err
}

func booking(ctx context.Context, q querier, id int64) (Booking, error) {
	b, err := scanBooking(q.QueryRowContext(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE id = ?`, id))
	if err != nil {
		return b, notFound(err, "booking", id)
	}
	b.ResourceIDs, err = ids(ctx, q, `SELECT resource_id FROM booking_resources WHERE booking_id = ? ORDER BY resource_id`, id)
	return b, err
}

// Booking returns booking id.
func (s *Store) Booking(ctx context.Context, id int64) (Booking, error) { return booking(ctx, s.r, id) }

// bookingIDByToken finds the booking a manage token opens. The token's hash is the lookup key,
// and the stored hash is compared again in constant time.
func bookingIDByToken(ctx context.Context, q querier, token ManageToken) (int64, error) {
	if len(token) < 32 || len(token) > 128 {
		return 0, Errorf(ENOTFOUND, "this booking link is not valid")
	}
	h := token.hash()
	var id int64
	var stored []byte
	err := q.QueryRowContext(ctx, `SELECT booking_id, token_hash FROM booking_tokens WHERE token_hash = ?`, h).Scan(&id, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(stored, h) != 1) {
		return 0, Errorf(ENOTFOUND, "this booking link is not valid")
	}
	return id, err
}

// BookingByToken returns the booking a customer's manage token opens. Errors: ENOTFOUND.
func (s *Store) BookingByToken(ctx context.Context, token ManageToken) (Booking, error) {
	id, err := bookingIDByToken(ctx, s.r, token)
	if err != nil {
		return Booking{}, err
	}
	return booking(ctx, s.r, id)
}

// CheckChangeOnline says whether b's customer may still change or cancel it online: nil, or
// ECONFLICT (cancelled or over), ETOOLATE (started, or past the business's cutoff).
func (s *Store) CheckChangeOnline(ctx context.Context, b Booking) error {
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	return checkCutoff(b, st, s.now(), s.loc)
}

// checkCutoff fails with ECONFLICT when b is no longer open, and with ETOOLATE when customers
// may no longer change it: it has started, or the cutoff before its start has passed.
func checkCutoff(b Booking, st Settings, now time.Time, loc *time.Location) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "this booking is already %s", b.Status.Label())
	}
	if !now.Before(b.Start) {
		return Errorf(ETOOLATE, "this booking has already started (%s) and can no longer be changed online",
			b.Start.In(loc).Format("Mon 2 Jan 15:04 MST"))
	}
	if st.CancelCutoff > 0 && now.After(b.Start.Add(-st.CancelCutoff)) {
		return Errorf(ETOOLATE, "this booking can no longer be changed online: changes are possible until %s before the start (%s). Please contact the business.",
			HumanDuration(st.CancelCutoff), b.Start.In(loc).Format("Mon 2 Jan 15:04 MST"))
	}
	return nil
}

// HumanDuration says d in its largest whole unit, as people do: 1 day, 3 hours, 90 minutes.
func HumanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		if n := int(d / (24 * time.Hour)); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "1 day"
	case d%time.Hour == 0:
		if n := int(d / time.Hour); n != 1 {
			return fmt.Sprintf("%d hours", n)
		}
		return "1 hour"
	}
	return fmt.Sprintf("%d minutes", int(d/time.Minute))
}

// Open reports whether a booking with this status is still to happen: pending or confirmed.
func (st Status) Open() bool { return st == StatusPending || st == StatusConfirmed }

// openBooking is Status.Open in SQL: the condition on a bookings row that it is open.
const openBooking = `status IN ('pending', 'confirmed')`

// HoldsTime reports whether a booking with this status keeps its time from other bookings:
// every booking but a cancelled one (one that happened, or did not, still had its time).
func (st Status) HoldsTime() bool { return st != StatusCancelled }

// holdsTime is Status.HoldsTime in SQL, on a bookings row.
const holdsTime = `status <> 'cancelled'`

// HasOutcome reports whether staff marked how the booking went: completed or no-show.
func (st Status) HasOutcome() bool { return st == StatusCompleted || st == StatusNoShow }

// markedEvent is the event that records staff marking a booking st (Confirm, Complete, NoShow).
// Its data holds the status the booking had, which Reopen takes back.
func markedEvent(st Status) EventType {
	switch st {
	case StatusConfirmed:
		return EventConfirmed
	case StatusCompleted:
		return EventCompleted
	case StatusNoShow:
		return EventNoShow
	}
	panic("domain: no event marks status " + string(st))
}

// Label is the status as people read it: no-show, not no_show.
func (st Status) Label() string { return strings.ReplaceAll(string(st), "_", "-") }

// CancelByToken cancels the booking of token, as its customer, before the cutoff.
// Errors: ENOTFOUND, ETOOLATE, ECONFLICT (already cancelled or over).
func (s *Store) CancelByToken(ctx context.Context, token ManageToken, reason string) (Booking, error) {
	return s.change(ctx, func(tx *sql.Tx) (int64, error) {
		return bookingIDByToken(ctx, tx, token)
	}, func(tx *sql.Tx, b *Booking, st Settings, now time.Time) error {
		if err := checkCutoff(*b, st, now, s.loc); err != nil {
			return err
		}
		return s.cancel(ctx, tx, b, reason, ActorCustomer, now)
	})
}

// RescheduleByToken moves the booking of token to start (with staffID, 0 = anyone), as its
// customer, before the cutoff; the booking keeps its id. Errors: ENOTFOUND, ETOOLATE,
// ECONFLICT, ESLOTUNAVAILABLE.
func (s *Store) RescheduleByToken(ctx context.Context, token ManageToken, start time.Time, staffID int64) (Booking, error) {
	return s.change(ctx, func(tx *sql.Tx) (int64, error) {
		return bookingIDByToken(ctx, tx, token)
	}, func(tx *sql.Tx, b *Booking, st Settings, now time.Time) error {
		if err := checkCutoff(*b, st, now, s.loc); err != nil {
			return err
		}
		return s.move(ctx, tx, b, start, staffID, false, ActorCustomer, now)
	})
}

// Confirm confirms a pending booking (staff). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Confirm(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusConfirmed, "confirmed", actor, func(st Status) bool { return st == StatusPending })
}

// Complete marks a booking as delivered (staff), once it has started. Errors: ENOTFOUND,
// ECONFLICT.
func (s *Store) Complete(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusCompleted, "marked completed", actor, Status.Open)
}

// NoShow marks that the customer did not come (staff), once the booking has started. Errors:
// ENOTFOUND, ECONFLICT.
func (s *Store) NoShow(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.setStatus(ctx, id, StatusNoShow, "marked no-show", actor, Status.Open)
}

// Reopen takes back an outcome marked by mistake (completed, no-show): the booking is again
// what it was before (confirmed, or pending confirmation), its time still its own (staff; the
// customer is not told: nothing changed for them). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Reopen(ctx context.Context, id int64, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		if !b.Status.HasOutcome() {
			return Errorf(ECONFLICT, "a %s booking cannot be reopened", b.Status.Label())
		}
		var data string
		err := tx.QueryRowContext(ctx, `SELECT data FROM booking_events WHERE booking_id = ? AND type = ?
			ORDER BY id DESC LIMIT 1`, b.ID, markedEvent(b.Status)).Scan(&data)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var before struct{ From Status }
		if data != "" { // no record (an import, say): confirmed
			if err := json.Unmarshal([]byte(data), &before); err != nil {
				return fmt.Errorf("read the status booking %d had before it was marked: %w", b.ID, err)
			}
		}
		to := StatusConfirmed
		if before.From == StatusPending {
			to = StatusPending
		}
		return markStatus(ctx, tx, b, to, EventReopened, actor, now)
	})
}

// Cancel cancels a booking (staff: no cutoff). Errors: ENOTFOUND, ECONFLICT.
func (s *Store) Cancel(ctx context.Context, id int64, reason string, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		return s.cancel(ctx, tx, b, reason, actor, now)
	})
}

// Move moves a booking to start with staffID (staff: no cutoff, no minimum notice, never an
// overlap). Errors: ENOTFOUND, ECONFLICT, ESLOTUNAVAILABLE.
func (s *Store) Move(ctx context.Context, id int64, start time.Time, staffID int64, actor Actor) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		return s.move(ctx, tx, b, start, staffID, true, actor, now)
	})
}

func byID(id int64) func(*sql.Tx) (int64, error) {
	return func(*sql.Tx) (int64, error) { return id, nil }
}

// change runs one change to a booking in a write transaction and returns the booking after it.
func (s *Store) change(ctx context.Context, find func(*sql.Tx) (int64, error), apply func(*sql.Tx, *Booking, Settings, time.Time) error) (Booking, error) {
	var b Booking
	err := s.inBookingTx(ctx, func(tx *sql.Tx) error {
		id, err := find(tx)
		if err != nil {
			return err
		}
		if b, err = booking(ctx, tx, id); err != nil {
			return err
		}
		st, err := s.settingsIn(ctx, tx)
		if err != nil {
			return err
		}
		if err := apply(tx, &b, st, s.now()); err != nil {
			return err
		}
		b, err = booking(ctx, tx, id)
		return err
	})
	if err != nil {
		return Booking{}, wrap("change booking", err)
	}
	return b, nil
}

// setStatus moves booking id to status to when allowed allows its status, recording
// markedEvent(to); done says the change in the refusal ("a cancelled booking cannot be " + done).
func (s *Store) setStatus(ctx context.Context, id int64, to Status, done string, actor Actor, allowed func(Status) bool) (Booking, error) {
	return s.change(ctx, byID(id), func(tx *sql.Tx, b *Booking, _ Settings, now time.Time) error {
		if !allowed(b.Status) {
			return Errorf(ECONFLICT, "a %s booking cannot be %s", b.Status.Label(), done)
		}
		// An outcome marked ahead of time (a slip of the finger on the calendar) would end the
		// booking for good: its customer could no longer cancel or move it, its time stays held.
		if to.HasOutcome() && now.Before(b.Start) {
			return Errorf(ECONFLICT, "this booking starts %s: it can be marked %s once it has started",
				s.shortTime(*b), to.Label())
		}
		if err := markStatus(ctx, tx, b, to, markedEvent(to), actor, now); err != nil {
			return err
		}
		if to == StatusConfirmed {
			confirmed := *b
			confirmed.Status = to
			return s.notify(ctx, tx, KindBookingConfirmed, confirmed, "", now)
		}
		return nil
	})
}

// markStatus sets b's status to to in tx and records event, with the status it had.
func markStatus(ctx context.Context, tx *sql.Tx, b *Booking, to Status, event EventType, actor Actor, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = ?, updated_at = ? WHERE id = ?`, to, now.Unix(), b.ID); err != nil {
		return err
	}
	return addEvent(ctx, tx, b.ID, event, actor, map[string]any{"from": b.Status}, now)
}

func (s *Store) cancel(ctx context.Context, tx *sql.Tx, b *Booking, reason string, actor Actor, now time.Time) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "this booking is already %s", b.Status.Label())
	}
	if utf8.RuneCountInString(reason) > MaxCancelReasonLen {
		return Invalid("reason", "reason must be at most %d characters", MaxCancelReasonLen)
	}
	_, err := tx.ExecContext(ctx, `UPDATE bookings SET status = ?, cancel_reason = ?, cancelled_by = ?,
		updated_at = ? WHERE id = ?`, StatusCancelled, reason, actor, now.Unix(), b.ID)
	if err != nil {
		return err
	}
	if err := addEvent(ctx, tx, b.ID, EventCancelled, actor, map[string]any{"reason": reason}, now); err != nil {
		return err
	}
	if err := dropUnsent(ctx, tx, b.ID); err != nil {
		return err
	}
	b.Status = StatusCancelled
	return s.notify(ctx, tx, KindBookingCancelled, *b, "", now)
}

func (s *Store) move(ctx context.Context, tx *sql.Tx, b *Booking, start time.Time, staffID int64, byStaff bool, actor Actor, now time.Time) error {
	if !b.Status.Open() {
		return Errorf(ECONFLICT, "a %s booking cannot be moved", b.Status.Label())
	}
	slot, svc, err := s.findSlot(ctx, tx, b.ServiceID, staffID, start, b.Seats, b.ID, byStaff)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE bookings SET staff_id = ?, start_at = ?, end_at = ?, block_start = ?,
		block_end = ?, updated_at = ? WHERE id = ?`, slot.StaffID, slot.Start.Unix(), slot.End.Unix(),
		slot.Start.Add(-svc.BufferBefore).Unix(), slot.End.Add(svc.BufferAfter).Unix(), now.Unix(), b.ID)
	if err != nil {
		return err
	}
	// The availability check used the service's resources as they are now: hold exactly those.
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_resources WHERE booking_id = ?`, b.ID); err != nil {
		return err
	}
	for _, rid := range svc.ResourceIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_resources (booking_id, resource_id) VALUES (?, ?)`, b.ID, rid); err != nil {
			return err
		}
	}
	if err := addEvent(ctx, tx, b.ID, EventRescheduled, actor, map[string]any{
		"from": b.Start.Format(time.RFC3339), "to": slot.Start.UTC().Format(time.RFC3339),
		"fromStaff": b.StaffID, "toStaff": slot.StaffID,
	}, now); err != nil {
		return err
	}
	if err := dropUnsent(ctx, tx, b.ID); err != nil {
		return err
	}
	moved := *b
	moved.Start, moved.End, moved.StaffID = slot.Start, slot.End, slot.StaffID
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET reminded_at = NULL WHERE id = ?`, b.ID); err != nil {
		return err // a moved booking deserves a reminder for its new time
	}
	if moved.StaffID != b.StaffID {
		// The staff member it leaves has the event in their calendar: it is cancelled there
		// (same UID), or they would keep a phantom appointment; the new one gets it as a request.
		if err := s.notifyStaffReleased(ctx, tx, *b, moved, now); err != nil {
			return err
		}
	}
	return s.notify(ctx, tx, KindBookingRescheduled, moved, "", now)
}

// BookingFilter selects bookings for lists and calendars.
type BookingFilter struct {
	From, To   time.Time // bookings starting in [From, To); zero = unbounded
	Status     Status    // "" = any
	StaffID    int64
	CustomerID int64
	Limit      int // default 100, at most 500
	// After is a keyset cursor: only bookings after this (start, id) position, in that order.
	// Take it from the last booking of the previous page (Booking.Cursor).
	After *Cursor
}

// Cursor is a position in the (start, id) order of bookings.
type Cursor struct {
	Start time.Time
	ID    int64
}

// Cursor is b's position, for BookingFilter.After.
func (b Booking) Cursor() Cursor { return Cursor{Start: b.Start, ID: b.ID} }

// Bookings lists bookings matching f in start order.
func (s *Store) Bookings(ctx context.Context, f BookingFilter) ([]Booking, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, Invalid("status", "unknown status %q", f.Status)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	where := []string{"1 = 1"}
	var args []any
	if !f.From.IsZero() {
		where, args = append(where, "start_at >= ?"), append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		where, args = append(where, "start_at < ?"), append(args, f.To.Unix())
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.StaffID != 0 {
		where, args = append(where, "staff_id = ?"), append(args, f.StaffID)
	}
	if f.CustomerID != 0 {
		where, args = append(where, "customer_id = ?"), append(args, f.CustomerID)
	}
	if f.After != nil {
		where = append(where, "(start_at, id) > (?, ?)")
		args = append(args, f.After.Start.Unix(), f.After.ID)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE `+strings.Join(where, " AND ")+
		` ORDER BY start_at, id LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	defer rows.Close()
	var out []Booking
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Events returns the audit trail of booking id, oldest first.
func (s *Store) Events(ctx context.Context, id int64) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, booking_id, type, actor, data, at FROM booking_events
		WHERE booking_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("booking events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &e.BookingID, &e.Type, &e.Actor, &e.Data, &at); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventsAfter returns up to limit audit events with ids above afterID, oldest first: the feed
// of live booking changes.
func (s *Store) EventsAfter(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	var out []Event
	err := each(ctx, s.r, func(rows *sql.Rows) error {
		var e Event
		var at int64
		err := rows.Scan(&e.ID, &e.BookingID, &e.Type, &e.Actor, &e.Data, &at)
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
		return err
	}, `SELECT id, booking_id, type, actor, data, at FROM booking_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	return out, err
}

// LastEventID is the id of the newest audit event (0 when there is none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM booking_events`).Scan(&id)
	return id, err
}
