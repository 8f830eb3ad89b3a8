package domain

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reserva/reserva/internal/paths"
)

// PasswordResetTTL is how long an emailed password reset link works.
const PasswordResetTTL = time.Hour

// RequestPasswordReset emails a one-time link to reset the password of the user with email,
// through the outbox. It answers the same whether or not the email belongs to a user, so the
// form cannot be used to find out who has an account. business names the business in the mail.
func (s *Store) RequestPasswordReset(ctx context.Context, email, business string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if !isEmail(email) {
		return Invalid("email", "%q is not an email address", email)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		var name string
		err := tx.QueryRowContext(ctx, `SELECT id, name FROM users WHERE email = ?`, email).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		// At most three live links per user: a flood of requests cannot fill the outbox.
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM password_resets WHERE user_id = ? AND used_at IS NULL AND expires_at > ?`,
			id, now.Unix()).Scan(&live); err != nil {
			return err
		}
		if live >= 3 {
			return nil
		}
		secret := rand.Text() + rand.Text()
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			tokenHash(secret), id, now.Unix(), now.Add(PasswordResetTTL).Unix()); err != nil {
			return err
		}
		body := fmt.Sprintf("Hello %s,\n\nSomeone (we hope you) asked to reset your password for the %s dashboard.\n"+
			"Choose a new one here within the next hour:\n\n  %s\n\nIf it was not you, ignore this email: your password stays as it is.\n",
			name, business, LinkPlaceholder)
		return enqueue(ctx, tx, Message{Kind: KindPasswordReset, To: email, Subject: "Reset your password for " + business,
			Body: body, LinkPath: paths.PasswordReset(secret)}, now)
	})
	return wrap("request password reset", err)
}

// ResetPassword sets a new password with the secret of an emailed reset link, which is then
// used up. Every session of the user ends, and with revokeTokens every API token the user made
// (whoever took over the account may have made some). Errors: EINVALID (password),
// EUNAUTHORIZED (the link is unknown, used or expired).
func (s *Store) ResetPassword(ctx context.Context, secret, password string, revokeTokens bool) (User, error) {
	if err := checkNewPassword(password); err != nil {
		return User{}, err
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now().Unix()
		err := tx.QueryRowContext(ctx, `UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
			RETURNING user_id`, now, tokenHash(secret), now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(EUNAUTHORIZED, "this reset link has expired or was already used: ask for a new one")
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ?`,
			HashPassword(password), id); err != nil {
			return err
		}
		if revokeTokens {
			if err := revokeUserTokens(ctx, tx, id, now); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM password_resets WHERE user_id = ? AND used_at IS NULL`, id)
		return err
	})
	if err != nil {
		return User{}, wrap("reset password", err)
	}
	return s.User(ctx, id)
}

// ValidResetLink reports whether secret is a reset link that can still be used.
func (s *Store) ValidResetLink(ctx context.Context, secret string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM password_resets WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
		tokenHash(secret), s.now().Unix()).Scan(&n)
	return n > 0, err
}

// SignOutEverywhere ends every session of user id (the current one included), and with
// revokeTokens every API token the user made, and returns the user with its new epoch.
// Errors: ENOTFOUND.
func (s *Store) SignOutEverywhere(ctx context.Context, id int64, revokeTokens bool) (User, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "user %d not found", id)
		}
		if revokeTokens {
			return revokeUserTokens(ctx, tx, id, s.now().Unix())
		}
		return nil
	})
	if err != nil {
		return User{}, wrap("sign out everywhere", err)
	}
	return s.User(ctx, id)
}

// revokeUserTokens revokes every live API token user id made.
func revokeUserTokens(ctx context.Context, tx *sql.Tx, id, now int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now, id)
	return err
}
