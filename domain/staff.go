package domain

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

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
	return all(ctx, q, "list staff", scanStaff, `SELECT id, name, email, active, hours FROM staff ORDER BY name, id`)
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
