package domain

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Dashboard sessions live in the business's own database (deleting a business deletes them).
// The web layer's session manager (scs) keeps its opaque data here by token; expiry is stored
// as unix seconds with millisecond fractions, the encoding scs's own SQLite store uses.

// sessionExpiry is how an instant is stored in sessions.expiry.
func sessionExpiry(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Session returns the data of the unexpired session with token, and whether there is one.
func (s *Store) Session(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM sessions WHERE token = ? AND expiry > ?`,
		token, sessionExpiry(s.now())).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", err)
	}
	return data, true, nil
}

// SaveSession stores data as the session with token, valid until expiry.
func (s *Store) SaveSession(ctx context.Context, token string, data []byte, expiry time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)
		ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
		token, data, sessionExpiry(expiry))
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// DeleteSession removes the session with token, if there is one.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE token = ?`, token); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that have expired and returns how many there were.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expiry < ?`, sessionExpiry(s.now()))
	if err != nil {
		return 0, fmt.Errorf("remove expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("remove expired sessions: %w", err)
	}
	return n, nil
}
