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
	"unicode/utf8"
)

// --- services ---

// A service lasts at most maxServiceDuration, with at most maxBuffer before and after: a booking
// blocks at most maxBlock of its staff member's time (availability's search relies on it).
const (
	maxServiceDuration = 720 * time.Minute
	maxBuffer          = 240 * time.Minute
	maxBlock           = maxServiceDuration + 2*maxBuffer
)

// Validate checks every field of svc and names the first bad one.
func (svc Service) Validate() error {
	name := strings.TrimSpace(svc.Name)
	switch {
	case name == "" || utf8.RuneCountInString(name) > MaxNameLen:
		return Invalid("name", "name must be 1 to %d characters", MaxNameLen)
	case utf8.RuneCountInString(svc.Description) > MaxDescriptionLen:
		return Invalid("description", "description must be at most %d characters", MaxDescriptionLen)
	case svc.Duration < 5*time.Minute || svc.Duration > maxServiceDuration || svc.Duration%time.Minute != 0:
		return Invalid("duration", "duration must be between 5 and 720 minutes")
	case svc.Price.Amount < 0:
		return Invalid("price", "price cannot be negative")
	case !isCurrency(svc.Price.Currency):
		return Invalid("price.currency", "currency must be a three-letter ISO 4217 code such as EUR")
	case svc.BufferBefore < 0 || svc.BufferBefore > maxBuffer || svc.BufferBefore%time.Minute != 0:
		return Invalid("bufferBefore", "buffer before must be whole minutes between 0 and 240")
	case svc.BufferAfter < 0 || svc.BufferAfter > maxBuffer || svc.BufferAfter%time.Minute != 0:
		return Invalid("bufferAfter", "buffer after must be whole minutes between 0 and 240")
	case svc.Capacity < 1 || svc.Capacity > 500:
		return Invalid("capacity", "capacity must be between 1 and 500")
	case svc.MinNotice != nil && (*svc.MinNotice < 0 || *svc.MinNotice > 90*24*time.Hour || *svc.MinNotice%time.Minute != 0):
		return Invalid("minNotice", "minimum notice must be whole minutes between 0 and 90 days")
	case svc.Horizon != nil && (*svc.Horizon < 24*time.Hour || *svc.Horizon > 730*24*time.Hour || *svc.Horizon%(24*time.Hour) != 0):
		return Invalid("horizon", "booking horizon must be whole days between 1 and 730")
	case svc.SlotStep != nil && (*svc.SlotStep < 5*time.Minute || *svc.SlotStep > 240*time.Minute || *svc.SlotStep%(5*time.Minute) != 0):
		return Invalid("slotStep", "slot step must be a multiple of 5 minutes between 5 and 240")
	}
	return nil
}

func optMinutes(d *time.Duration, unit time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d / unit)
}

// CreateService validates svc and stores it with its staff and resources; it returns the new id.
func (s *Store) CreateService(ctx context.Context, svc Service) (int64, error) {
	if err := svc.Validate(); err != nil {
		return 0, err
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now().Unix()
		err := tx.QueryRowContext(ctx, `INSERT INTO services (name, description, duration_min, price_amount,
			price_currency, buffer_before_min, buffer_after_min, capacity, active, min_notice_min, horizon_days,
			slot_step_min, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) RETURNING id`,
			strings.TrimSpace(svc.Name), svc.Description, int64(svc.Duration/time.Minute), svc.Price.Amount,
			svc.Price.Currency, int64(svc.BufferBefore/time.Minute), int64(svc.BufferAfter/time.Minute),
			svc.Capacity, optMinutes(svc.MinNotice, time.Minute), optMinutes(svc.Horizon, 24*time.Hour),
			optMinutes(svc.SlotStep, time.Minute), now, now).Scan(&id)
		if err != nil {
			return err
		}
		return setServiceLinks(ctx, tx, id, svc)
	})
	if err != nil {
		return 0, wrap("create service", err)
	}
	return id, nil
}

// UpdateService replaces service svc.ID's fields, staff and resources.
func (s *Store) UpdateService(ctx context.Context, svc Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE services SET name = ?, description = ?, duration_min = ?,
			price_amount = ?, price_currency = ?, buffer_before_min = ?, buffer_after_min = ?, capacity = ?,
			active = ?, min_notice_min = ?, horizon_days = ?, slot_step_min = ?, updated_at = ? WHERE id = ?`,
			strings.TrimSpace(svc.Name), svc.Description, int64(svc.Duration/time.Minute), svc.Price.Amount,
			svc.Price.Currency, int64(svc.BufferBefore/time.Minute), int64(svc.BufferAfter/time.Minute),
			svc.Capacity, svc.Active, optMinutes(svc.MinNotice, time.Minute), optMinutes(svc.Horizon, 24*time.Hour),
			optMinutes(svc.SlotStep, time.Minute), s.now().Unix(), svc.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "service %d not found", svc.ID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM service_staff WHERE service_id = ?`, svc.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM service_resources WHERE service_id = ?`, svc.ID); err != nil {
			return err
		}
		return setServiceLinks(ctx, tx, svc.ID, svc)
	})
	if err != nil {
		return wrap("update service", err)
	}
	return nil
}

func setServiceLinks(ctx context.Context, tx *sql.Tx, id int64, svc Service) error {
	for _, sid := range svc.StaffIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO service_staff (service_id, staff_id) VALUES (?, ?)`, id, sid); err != nil {
			if isForeignKey(err) {
				return Invalid("staffIds", "staff member %d does not exist", sid)
			}
			return err
		}
	}
	for _, rid := range svc.ResourceIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO service_resources (service_id, resource_id) VALUES (?, ?)`, id, rid); err != nil {
			if isForeignKey(err) {
				return Invalid("resourceIds", "resource %d does not exist", rid)
			}
			return err
		}
	}
	return nil
}

const serviceColumns = `id, name, description, duration_min, price_amount, price_currency, buffer_before_min,
	buffer_after_min, capacity, active, min_notice_min, horizon_days, slot_step_min,
	(SELECT group_concat(staff_id) FROM (SELECT staff_id FROM service_staff WHERE service_id = services.id ORDER BY staff_id)),
	(SELECT group_concat(resource_id) FROM (SELECT resource_id FROM service_resources WHERE service_id = services.id ORDER BY resource_id))`

func scanService(row interface{ Scan(...any) error }) (Service, error) {
	var svc Service
	var dur, bb, ba int64
	var notice, horizon, step sql.NullInt64
	var staff, resources sql.NullString
	err := row.Scan(&svc.ID, &svc.Name, &svc.Description, &dur, &svc.Price.Amount, &svc.Price.Currency,
		&bb, &ba, &svc.Capacity, &svc.Active, &notice, &horizon, &step, &staff, &resources)
	if err != nil {
		return svc, err
	}
	if svc.StaffIDs, err = splitIDs(staff.String); err != nil {
		return svc, err
	}
	if svc.ResourceIDs, err = splitIDs(resources.String); err != nil {
		return svc, err
	}
	svc.Duration, svc.BufferBefore, svc.BufferAfter = minutes(dur), minutes(bb), minutes(ba)
	if notice.Valid {
		d := minutes(notice.Int64)
		svc.MinNotice = &d
	}
	if horizon.Valid {
		d := time.Duration(horizon.Int64) * 24 * time.Hour
		svc.Horizon = &d
	}
	if step.Valid {
		d := minutes(step.Int64)
		svc.SlotStep = &d
	}
	return svc, nil
}

// splitIDs parses a group_concat of ids ("3,7,9").
func splitIDs(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("id list %q: %w", s, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// Service returns service id with its staff and resources.
func (s *Store) Service(ctx context.Context, id int64) (Service, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return Service{}, err
	}
	return c.service(id)
}

func service(ctx context.Context, q querier, id int64) (Service, error) {
	svc, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceColumns+` FROM services WHERE id = ?`, id))
	return svc, notFound(err, "service", id)
}

// Services lists services by name; archived ones only when includeArchived.
func (s *Store) Services(ctx context.Context, includeArchived bool) ([]Service, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	return matching(c.services, func(svc Service) bool { return svc.Active || includeArchived }), nil
}

// services lists every service, archived too, by name.
func services(ctx context.Context, q querier) ([]Service, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+serviceColumns+` FROM services ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		svc, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, rows.Err()
}

// ArchiveService stops service id from being booked; its bookings stay.
func (s *Store) ArchiveService(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE services SET active = 0, updated_at = ? WHERE id = ?`, s.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("archive service %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "service %d not found", id)
	}
	return nil
}

func ids(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// --- staff ---

// validateIntervals checks that intervals lie within a day, are each non-empty and do not
// overlap, and returns them sorted.
func validateIntervals(field string, ivs []Interval) ([]Interval, error) {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b Interval) int { return a.Start - b.Start })
	for i, iv := range ivs {
		if iv.Start < 0 || iv.End > 1440 || iv.Start >= iv.End {
			return nil, Invalid(field, "interval %s–%s must start before it ends, within one day", clock(iv.Start), clock(iv.End))
		}
		if i > 0 && iv.Start < ivs[i-1].End {
			return nil, Invalid(field, "intervals %s–%s and %s–%s overlap", clock(ivs[i-1].Start), clock(ivs[i-1].End), clock(iv.Start), clock(iv.End))
		}
	}
	if ivs == nil {
		ivs = []Interval{}
	}
	return ivs, nil
}

func clock(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

// Validate checks st and sorts its hours.
func (st *Staff) Validate() error {
	st.Name = strings.TrimSpace(st.Name)
	if st.Name == "" || utf8.RuneCountInString(st.Name) > MaxNameLen {
		return Invalid("name", "name must be 1 to %d characters", MaxNameLen)
	}
	if st.Email != "" && !isEmail(st.Email) {
		return Invalid("email", "email %q is not an email address", st.Email)
	}
	for d := range st.Hours {
		ivs, err := validateIntervals("hours."+time.Weekday(d).String(), st.Hours[d])
		if err != nil {
			return err
		}
		st.Hours[d] = ivs
	}
	return nil
}

// CreateStaff stores a new staff member and returns the id.
func (s *Store) CreateStaff(ctx context.Context, st Staff) (int64, error) {
	if err := st.Validate(); err != nil {
		return 0, err
	}
	hours, _ := json.Marshal(st.Hours)
	id, err := s.insert(ctx, `INSERT INTO staff (name, email, active, hours, created_at) VALUES (?, ?, 1, ?, ?) RETURNING id`,
		st.Name, st.Email, string(hours), s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("create staff: %w", err)
	}
	return id, nil
}

// UpdateStaff replaces staff member st.ID's name, email, active flag and weekly hours.
func (s *Store) UpdateStaff(ctx context.Context, st Staff) error {
	if err := st.Validate(); err != nil {
		return err
	}
	hours, _ := json.Marshal(st.Hours)
	res, err := s.w.ExecContext(ctx, `UPDATE staff SET name = ?, email = ?, active = ?, hours = ? WHERE id = ?`,
		st.Name, st.Email, st.Active, string(hours), st.ID)
	if err != nil {
		return fmt.Errorf("update staff %d: %w", st.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "staff member %d not found", st.ID)
	}
	return nil
}

func scanStaff(row interface{ Scan(...any) error }) (Staff, error) {
	var st Staff
	var hours string
	if err := row.Scan(&st.ID, &st.Name, &st.Email, &st.Active, &hours); err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(hours), &st.Hours); err != nil {
		return st, fmt.Errorf("staff %d hours: %w", st.ID, err)
	}
	return st, nil
}

// StaffMember returns staff member id.
func (s *Store) StaffMember(ctx context.Context, id int64) (Staff, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return Staff{}, err
	}
	return c.staffMember(id)
}

// StaffList lists staff by name; inactive ones only when includeInactive.
func (s *Store) StaffList(ctx context.Context, includeInactive bool) ([]Staff, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	return matching(c.staff, func(st Staff) bool { return st.Active || includeInactive }), nil
}

// allStaff lists every staff member, inactive too, by name.
func allStaff(ctx context.Context, q querier) ([]Staff, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, email, active, hours FROM staff ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []Staff
	for rows.Next() {
		st, err := scanStaff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// SetDateOverride gives staff member staffID different hours on date; no intervals = closed.
func (s *Store) SetDateOverride(ctx context.Context, o DateOverride) error {
	ivs, err := validateIntervals("intervals", o.Intervals)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(ivs)
	_, err = s.w.ExecContext(ctx, `INSERT INTO staff_date_overrides (staff_id, date, intervals) VALUES (?, ?, ?)
		ON CONFLICT (staff_id, date) DO UPDATE SET intervals = excluded.intervals`, o.StaffID, o.Date.String(), string(data))
	if isForeignKey(err) {
		return Errorf(ENOTFOUND, "staff member %d not found", o.StaffID)
	}
	if err != nil {
		return fmt.Errorf("set date override: %w", err)
	}
	return nil
}

// DateOverrides lists staff member staffID's date overrides from date from on, by date.
func (s *Store) DateOverrides(ctx context.Context, staffID int64, from Date) ([]DateOverride, error) {
	var out []DateOverride
	err := each(ctx, s.r, func(rows *sql.Rows) error {
		var date, ivs string
		if err := rows.Scan(&date, &ivs); err != nil {
			return err
		}
		o := DateOverride{StaffID: staffID}
		var err error
		if o.Date, err = ParseDate(date); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(ivs), &o.Intervals); err != nil {
			return fmt.Errorf("date override %s of staff %d: %w", date, staffID, err)
		}
		out = append(out, o)
		return nil
	}, `SELECT date, intervals FROM staff_date_overrides WHERE staff_id = ? AND date >= ? ORDER BY date`, staffID, from.String())
	return out, wrap("list date overrides", err)
}

// TimeOffList lists staff member staffID's time off that ends after after, by start.
func (s *Store) TimeOffList(ctx context.Context, staffID int64, after time.Time) ([]TimeOff, error) {
	var out []TimeOff
	err := each(ctx, s.r, func(rows *sql.Rows) error {
		t := TimeOff{StaffID: staffID}
		var from, to int64
		if err := rows.Scan(&t.ID, &from, &to, &t.Reason); err != nil {
			return err
		}
		t.Start, t.End = time.Unix(from, 0).UTC(), time.Unix(to, 0).UTC()
		out = append(out, t)
		return nil
	}, `SELECT id, start_at, end_at, reason FROM staff_time_off WHERE staff_id = ? AND end_at > ? ORDER BY start_at`, staffID, after.Unix())
	return out, wrap("list time off", err)
}

// DeleteDateOverride returns staffID to their weekly hours on date.
func (s *Store) DeleteDateOverride(ctx context.Context, staffID int64, date Date) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM staff_date_overrides WHERE staff_id = ? AND date = ?`, staffID, date.String())
	if err != nil {
		return fmt.Errorf("delete date override: %w", err)
	}
	return nil
}

// AddTimeOff records that a staff member is away from start to end; it returns the id.
func (s *Store) AddTimeOff(ctx context.Context, to TimeOff) (int64, error) {
	if !to.End.After(to.Start) {
		return 0, Invalid("end", "time off must end after it starts")
	}
	if utf8.RuneCountInString(to.Reason) > MaxTimeOffReasonLen {
		return 0, Invalid("reason", "reason must be at most %d characters", MaxTimeOffReasonLen)
	}
	id, err := s.insert(ctx, `INSERT INTO staff_time_off (staff_id, start_at, end_at, reason) VALUES (?, ?, ?, ?) RETURNING id`,
		to.StaffID, to.Start.Unix(), to.End.Unix(), to.Reason)
	if isForeignKey(err) {
		return 0, Errorf(ENOTFOUND, "staff member %d not found", to.StaffID)
	}
	if err != nil {
		return 0, fmt.Errorf("add time off: %w", err)
	}
	return id, nil
}

// DeleteTimeOff removes time off id.
func (s *Store) DeleteTimeOff(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM staff_time_off WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete time off: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "time off %d not found", id)
	}
	return nil
}

// --- resources ---

// CreateResource stores a new resource and returns its id.
func (s *Store) CreateResource(ctx context.Context, name string) (int64, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen {
		return 0, Invalid("name", "name must be 1 to %d characters", MaxNameLen)
	}
	id, err := s.insert(ctx, `INSERT INTO resources (name, active, created_at) VALUES (?, 1, ?) RETURNING id`,
		name, s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("create resource: %w", err)
	}
	return id, nil
}

// Resources lists the active resources.
func (s *Store) Resources(ctx context.Context) ([]Resource, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, active FROM resources WHERE active ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	defer rows.Close()
	var out []Resource
	for rows.Next() {
		var r Resource
		if err := rows.Scan(&r.ID, &r.Name, &r.Active); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// --- customers ---

// Validate checks a customer's details as given in a booking form: a name and an email (a
// phone is optional).
func (c *Customer) Validate() error { return c.validate(true) }

// validate checks c; without requireEmail (a booking staff take by phone or at the desk) the
// email may be left out: a name alone, or a name and a phone, is enough.
func (c *Customer) validate(requireEmail bool) error {
	c.Name = strings.TrimSpace(c.Name)
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	c.Phone = strings.TrimSpace(c.Phone)
	switch {
	case c.Name == "" || utf8.RuneCountInString(c.Name) > MaxNameLen:
		return Invalid("customer.name", "name must be 1 to %d characters", MaxNameLen)
	case c.Email == "" && requireEmail:
		return Invalid("customer.email", "email is required: the confirmation and the link to manage the booking go there")
	case c.Email != "" && (len(c.Email) > MaxEmailLen || !isEmail(c.Email)):
		return Invalid("customer.email", "email %q is not an email address", c.Email)
	case utf8.RuneCountInString(c.Phone) > MaxPhoneLen:
		return Invalid("customer.phone", "phone must be at most %d characters", MaxPhoneLen)
	case utf8.RuneCountInString(c.Notes) > MaxNotesLen:
		return Invalid("customer.notes", "notes must be at most %d characters", MaxNotesLen)
	}
	return nil
}

// phoneKey is what the ways of writing one phone number share, to match them: its ASCII digits,
// after a "+" written before any of them ("600 111 222", "600-111-222" and "600111222" are one
// number; "+34 600 111 222" is another, its country code given). It is "" for a phone without
// digits, which matches nobody. Migration 0007 computes the same in SQL for the rows before it.
func phoneKey(phone string) string {
	var b strings.Builder
	for _, r := range phone {
		if ('0' <= r && r <= '9') || (r == '+' && b.Len() == 0) {
			b.WriteRune(r)
		}
	}
	if k := b.String(); k != "+" {
		return k
	}
	return ""
}

// upsertCustomer finds the customer by email or creates them. An existing customer's details are
// left as they are: anyone can book with any email, so a booking must not rewrite them. A
// customer without email (taken by staff) is found by phone, however it was typed (phoneKey),
// among those without email, or is new when they gave no phone either.
func (s *Store) upsertCustomer(ctx context.Context, tx *sql.Tx, c Customer) (int64, error) {
	var id int64
	key := phoneKey(c.Phone)
	if c.Email == "" {
		if key != "" {
			err := tx.QueryRowContext(ctx, `SELECT id FROM customers WHERE email IS NULL AND phone_key = ?
				ORDER BY id LIMIT 1`, key).Scan(&id)
			if !errors.Is(err, sql.ErrNoRows) {
				return id, err
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO customers (name, email, phone, phone_key, created_at) VALUES (?, NULL, ?, ?, ?)
			RETURNING id`, c.Name, c.Phone, key, s.now().Unix()).Scan(&id)
		return id, err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO customers (name, email, phone, phone_key, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (email) DO NOTHING`, c.Name, c.Email, c.Phone, key, s.now().Unix())
	if err != nil {
		return 0, err
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM customers WHERE email = ?`, c.Email).Scan(&id)
	return id, err
}

const customerColumns = `id, name, email, phone, notes, created_at`

// scanCustomer reads a row of customerColumns. A customer without email (NULL in the table) has
// Email "": NULL stays in here.
func scanCustomer(row interface{ Scan(...any) error }) (Customer, error) {
	var c Customer
	var email sql.NullString
	var created int64
	err := row.Scan(&c.ID, &c.Name, &email, &c.Phone, &c.Notes, &created)
	c.Email = email.String
	c.CreatedAt = time.Unix(created, 0).UTC()
	return c, err
}

// Customer returns customer id.
func (s *Store) Customer(ctx context.Context, id int64) (Customer, error) {
	c, err := scanCustomer(s.r.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = ?`, id))
	return c, notFound(err, "customer", id)
}

// CustomerByEmail returns the customer with that email (case-insensitive).
func (s *Store) CustomerByEmail(ctx context.Context, email string) (Customer, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" { // customers who gave no email have none to be found by
		return Customer{}, Errorf(ENOTFOUND, "no customer has the email %s", email)
	}
	c, err := scanCustomer(s.r.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return c, Errorf(ENOTFOUND, "no customer has the email %s", email)
	}
	return c, err
}

// likeEscape escapes LIKE's wildcards (with ESCAPE '\') in a search text.
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Customers lists customers whose name, email or phone contains search, by name, at most limit
// of them after the customer with id after (0: from the start).
func (s *Store) Customers(ctx context.Context, search string, limit int, after int64) ([]Customer, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	like := "%" + likeEscape.Replace(strings.ToLower(strings.TrimSpace(search))) + "%"
	rows, err := s.r.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE (lower(name) LIKE ?1 ESCAPE '\' OR email LIKE ?1 ESCAPE '\' OR phone LIKE ?1 ESCAPE '\')
		AND id > ?2
		ORDER BY id LIMIT ?3`, like, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []Customer
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCustomerNotes sets the business's private notes on a customer.
func (s *Store) UpdateCustomerNotes(ctx context.Context, id int64, notes string) error {
	if utf8.RuneCountInString(notes) > MaxNotesLen {
		return Invalid("notes", "notes must be at most %d characters", MaxNotesLen)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE customers SET notes = ? WHERE id = ?`, notes, id)
	if err != nil {
		return fmt.Errorf("update customer %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "customer %d not found", id)
	}
	return nil
}

// StaffByIDs returns the staff members with the given ids (active or not), by id.
func (s *Store) StaffByIDs(ctx context.Context, ids []int64) (map[int64]Staff, error) {
	out := map[int64]Staff{}
	if len(ids) == 0 {
		return out, nil
	}
	c, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range c.staff {
		if slices.Contains(ids, st.ID) {
			out[st.ID] = st
		}
	}
	return out, nil
}

// ServicesByIDs returns the services with the given ids (archived or not), by id.
func (s *Store) ServicesByIDs(ctx context.Context, ids []int64) (map[int64]Service, error) {
	out := map[int64]Service{}
	if len(ids) == 0 {
		return out, nil
	}
	c, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	for _, svc := range c.services {
		if slices.Contains(ids, svc.ID) {
			out[svc.ID] = svc
		}
	}
	return out, nil
}

// AnonymiseCustomer erases a customer's personal data (GDPR right to be forgotten) while keeping
// the business's records: the customer's name, email, phone and notes, and on their bookings the
// contact details, notes and cancellation reasons, are replaced; their manage links stop working.
// Errors: ENOTFOUND.
func (s *Store) AnonymiseCustomer(ctx context.Context, id int64, actor Actor) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE customers SET name = 'Deleted customer', email = NULL,
			phone = '', phone_key = '', notes = '' WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "customer %d not found", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET customer_name = 'Deleted customer', customer_email = '',
			customer_phone = '', notes = '', cancel_reason = '' WHERE customer_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM booking_tokens WHERE booking_id IN (SELECT id FROM bookings WHERE customer_id = ?)`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE booking_id IN (SELECT id FROM bookings WHERE customer_id = ?)`, id); err != nil {
			return err
		}
		// The audit trail keeps what happened, not who said what.
		if _, err := tx.ExecContext(ctx, `UPDATE booking_events SET data = '{}' WHERE type = ?
			AND booking_id IN (SELECT id FROM bookings WHERE customer_id = ?)`, EventCancelled, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO booking_events (booking_id, type, actor, data, at)
			SELECT id, ?, ?, '{}', ? FROM bookings WHERE customer_id = ?`, EventAnonymised, actor, s.now().Unix(), id)
		return err
	})
	return wrap("anonymise customer", err)
}
