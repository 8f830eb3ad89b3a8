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
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reserva/reserva/internal/i18n"
)

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
	// Locale is the language the customer booked in (a tag such as "es"): the mail about the
	// booking speaks it. One Reserva does not speak, or none, leaves the business's setting.
	Locale string
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
	err := s.inBookingTx(ctx, func(tx *sql.Tx, touch func(Booking)) (err error) {
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
			idempotency_key, calendar_uid, locale, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			svc.ID, slot.StaffID, cid, slot.Start.Unix(), slot.End.Unix(),
			slot.Start.Add(-svc.BufferBefore).Unix(), slot.End.Add(svc.BufferAfter).Unix(),
			status, req.Seats, req.Notes, req.Customer.Name, req.Customer.Email, req.Customer.Phone,
			key, strings.ToLower(rand.Text()), i18n.Match(req.Locale), now.Unix(), now.Unix()).Scan(&id)
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
		if b, err = booking(ctx, tx, id); err != nil {
			return err
		}
		touch(b)
		if req.Quiet {
			return nil
		}
		var cat *catalog // the kept catalog findSlot used, when there is one (else notify reads)
		if s.cache != nil {
			cat, _ = s.cache.kept()
		}
		return s.notifyKnown(ctx, tx, KindBookingCreated, b, token, now, cat)
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

const bookingColumns = `id, service_id, staff_id, customer_id, start_at, end_at, status, seats, notes,
	customer_name, customer_email, customer_phone, cancel_reason, cancelled_by, calendar_uid, locale, created_at, updated_at`

func scanBooking(row interface{ Scan(...any) error }) (Booking, error) {
	var b Booking
	var start, end, created, updated int64
	err := row.Scan(&b.ID, &b.ServiceID, &b.StaffID, &b.CustomerID, &start, &end, &b.Status, &b.Seats, &b.Notes,
		&b.Contact.Name, &b.Contact.Email, &b.Contact.Phone, &b.CancelReason, &b.CancelledBy, &b.CalendarUID, &b.Locale, &created, &updated)
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
