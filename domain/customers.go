package domain

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

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
	return all(ctx, s.r, "list customers", scanCustomer, `SELECT `+customerColumns+` FROM customers
		WHERE (lower(name) LIKE ?1 ESCAPE '\' OR email LIKE ?1 ESCAPE '\' OR phone LIKE ?1 ESCAPE '\')
		AND id > ?2
		ORDER BY id LIMIT ?3`, like, after, limit)
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
