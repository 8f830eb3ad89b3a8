package domain

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ncruces/go-sqlite3"
)

// Store reads and writes one business's booking data. It is given that business's database and
// time zone, and never learns which tenant it serves.
type Store struct {
	w     writer     // the single writer connection: write transactions are BEGIN IMMEDIATE
	r     readerPool // query-only readers
	loc   *time.Location
	now   func() time.Time
	cache *catalogCache      // nil: the catalog is read for each use
	avail *availabilityCache // nil: availability is computed for each use
}

// NewStore returns a Store over a tenant's writer and reader pools. now is the clock (time.Now
// in production, fixed in tests).
func NewStore(write, read *sql.DB, loc *time.Location, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{w: writer{write}, r: readerPool{read}, loc: loc, now: now}
}

// readerPool runs the Store's reads without their context's cancellation. Every read is short
// and bounded (an indexed lookup, a window of days, a page of rows), and a cancellable context
// makes database/sql start a goroutine per query to watch it: on the request path that watcher
// and its wake-ups cost more than the query itself. The context's values still reach the
// driver; only Done and Err are dropped.
type readerPool struct{ db *sql.DB }

func (p readerPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (p readerPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.db.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

func (p readerPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(context.WithoutCancel(ctx), query, args...)
}

// writer is the business's single writer connection. It offers whole transactions (inTx, insert)
// and statements run to their end (ExecContext), and nothing else, because the kept catalog
// learns of a commit from SQLite's WAL hook, which runs when a statement in autocommit mode
// steps to its end. An autocommit INSERT … RETURNING read with QueryRow stops at its first row
// and commits only when the statement is reset: that commit runs no hook, the version stayed
// put, and the catalog read before it was kept without the new row (a new staff member was
// "not found"). A write that needs an answer back runs in a transaction, whose COMMIT runs to
// its end.
type writer struct{ db *sql.DB }

// ExecContext runs one statement to its end (autocommit: its commit moves the version).
func (w writer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return w.db.ExecContext(ctx, query, args...)
}

// insert runs an INSERT … RETURNING id in a transaction of its own and returns the id.
func (s *Store) insert(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, query, args...).Scan(&id)
	})
	return id, err
}

// Location is the business's time zone.
func (s *Store) Location() *time.Location { return s.loc }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// inTx runs fn in one write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so
// what fn reads cannot change before it writes).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, s.w.db, fn)
}

// runTx runs fn in a transaction begun on db (the pool, or one connection of it), committed
// when fn succeeds and rolled back when it fails.
func runTx(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// inLightTx is inTx for bookkeeping whose loss in a power cut costs a repeat and never a booking
// (the outbox's claims and its sent and retry marks): its commit does not wait for the disk
// (synchronous=NORMAL for this transaction alone). It survives a crash of the process, and the
// business's next durable commit, or a checkpoint, makes it durable too.
//
// The mail job commits such marks for every message of every open business each minute; each
// commit's fdatasync queued behind the others in the file system's journal, and for the seconds
// that took, bookings' commits waited 200-700 ms for the disk (a trace of make bench's mixed
// traffic at 1,000 req/s, docs/perf.md). The writer is FULL again afterwards, or discarded.
func (s *Store) inLightTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	conn, err := s.w.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return fmt.Errorf("light commit: %w", err)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); rerr != nil {
			// A writer whose commits would not wait for the disk must not take a booking:
			// the pool drops a connection its user calls bad, and opens a FULL one.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("light commit: restore synchronous=FULL: %w", rerr))
		}
	}()
	return runTx(ctx, conn, fn)
}

func minutes(n int64) time.Duration { return time.Duration(n) * time.Minute }

// Settings returns the business's booking rules.
func (s *Store) Settings(ctx context.Context) (Settings, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return Settings{}, err
	}
	return c.settings, nil
}

func settings(ctx context.Context, q querier) (Settings, error) {
	var st Settings
	var step, notice, horizon, cutoff int64
	err := q.QueryRowContext(ctx, `SELECT currency, locale, slot_step_min, min_notice_min, horizon_days,
		cancel_cutoff_min, require_confirmation, contact_email, contact_phone, address FROM settings WHERE id = 1`).
		Scan(&st.Currency, &st.Locale, &step, &notice, &horizon, &cutoff, &st.RequireConfirmation,
			&st.ContactEmail, &st.ContactPhone, &st.Address)
	if err != nil {
		return st, fmt.Errorf("read settings: %w", err)
	}
	st.SlotStep, st.MinNotice, st.CancelCutoff = minutes(step), minutes(notice), minutes(cutoff)
	st.Horizon = time.Duration(horizon) * 24 * time.Hour
	return st, nil
}

// UpdateSettings validates st and saves it. Durations are kept in whole minutes (horizon in days).
func (s *Store) UpdateSettings(ctx context.Context, st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE settings SET currency = ?, locale = ?, slot_step_min = ?,
		min_notice_min = ?, horizon_days = ?, cancel_cutoff_min = ?, require_confirmation = ?,
		contact_email = ?, contact_phone = ?, address = ?, updated_at = ? WHERE id = 1`,
		st.Currency, st.Locale, int64(st.SlotStep/time.Minute), int64(st.MinNotice/time.Minute),
		int64(st.Horizon/(24*time.Hour)), int64(st.CancelCutoff/time.Minute), st.RequireConfirmation,
		st.ContactEmail, st.ContactPhone, st.Address, s.now().Unix())
	if err != nil {
		return fmt.Errorf("update settings: %w", err)
	}
	return nil
}

// Validate checks every field of st.
func (st Settings) Validate() error {
	switch {
	case !isCurrency(st.Currency):
		return Invalid("currency", "currency must be a three-letter ISO 4217 code such as EUR")
	case st.Locale == "" || len(st.Locale) > MaxLocaleLen:
		return Invalid("locale", "locale must be a language tag such as en or es-ES")
	case st.SlotStep < 5*time.Minute || st.SlotStep > 240*time.Minute || st.SlotStep%(5*time.Minute) != 0:
		return Invalid("slotStep", "slot step must be a multiple of 5 minutes between 5 and 240")
	case st.MinNotice < 0 || st.MinNotice > 90*24*time.Hour || st.MinNotice%time.Minute != 0:
		return Invalid("minNotice", "minimum notice must be whole minutes between 0 and 90 days")
	case st.Horizon < 24*time.Hour || st.Horizon > 730*24*time.Hour || st.Horizon%(24*time.Hour) != 0:
		return Invalid("horizon", "booking horizon must be whole days between 1 and 730")
	case st.CancelCutoff < 0 || st.CancelCutoff > 90*24*time.Hour || st.CancelCutoff%time.Minute != 0:
		return Invalid("cancelCutoff", "cancellation cutoff must be whole minutes between 0 and 90 days")
	case len(st.ContactEmail) > MaxEmailLen || (st.ContactEmail != "" && !isEmail(st.ContactEmail)):
		return Invalid("contactEmail", "contact email %q is not an email address", st.ContactEmail)
	case utf8.RuneCountInString(st.ContactPhone) > MaxPhoneLen:
		return Invalid("contactPhone", "contact phone must be at most %d characters", MaxPhoneLen)
	case utf8.RuneCountInString(st.Address) > MaxAddressLen:
		return Invalid("address", "address must be at most %d characters", MaxAddressLen)
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// isEmail is a deliberately loose check: one @, something on each side, a dot in the domain, no
// spaces. Whether the address works is for the mail to find out.
func isEmail(e string) bool {
	at := -1
	for i, r := range e {
		switch {
		case r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' || r == ';':
			return false
		case r == '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 || at == len(e)-1 {
		return false
	}
	domain := e[at+1:]
	for i := 1; i < len(domain)-1; i++ {
		if domain[i] == '.' {
			return true
		}
	}
	return false
}

// notFound turns sql.ErrNoRows into an ENOTFOUND error about what.
func notFound(err error, what string, id int64) error {
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "%s %d not found", what, id)
	}
	return err
}

func isForeignKey(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode() == sqlite3.CONSTRAINT_FOREIGNKEY
}

func isUnique(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode() == sqlite3.CONSTRAINT_UNIQUE || se.ExtendedCode() == sqlite3.CONSTRAINT_PRIMARYKEY)
}
