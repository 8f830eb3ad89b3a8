package domain

import (
	"context"
	"database/sql"
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
	return all(ctx, q, "list services", scanService, `SELECT `+serviceColumns+` FROM services ORDER BY name, id`)
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
