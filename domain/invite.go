package domain

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/internal/paths"
)

// InvitationTTL is how long an emailed invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// noPassword is the password hash of an invited user who has not chosen a password yet: no
// password matches it (checkPassword wants an argon2id PHC string), so the account cannot be
// signed in to until the invitation is accepted.
const noPassword = "!invited"

// maxInviteTokenLen bounds an invitation token before any work is done on it.
const maxInviteTokenLen = 100

// errBadInvitation is the one answer to an invitation link that does not work, whatever the
// reason, so that the answer tells nothing about which links exist.
var errBadInvitation = Errorf(EUNAUTHORIZED, "this invitation link does not work: it is wrong, has expired (links work for 7 days) or was already used. Ask the business's owner to invite you again.")

// InviteUser adds a dashboard user without a password and mails them a link to choose one,
// valid for InvitationTTL and once; business names the business in the mail. Errors: EINVALID,
// ECONFLICT (email taken).
func (s *Store) InviteUser(ctx context.Context, u NewUser, business string) (User, error) {
	u.Password = strings.Repeat("x", MinPasswordLen) // none is chosen yet: only the others are checked
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	var staffID any
	if u.StaffID != 0 {
		staffID = u.StaffID
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO users (email, name, role, staff_id, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, u.Email, u.Name, u.Role, staffID, noPassword, now.Unix()).Scan(&id)
		switch {
		case isUnique(err):
			return Errorf(ECONFLICT, "a user with the email %s already exists", u.Email)
		case isForeignKey(err):
			return Invalid("staffId", "staff member %d does not exist", u.StaffID)
		case err != nil:
			return err
		}
		secret := rand.Text() + rand.Text()
		var inv int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO invitations (token_hash, user_id, created_at, expires_at)
			VALUES (?, ?, ?, ?) RETURNING id`, tokenHash(secret), id, now.Unix(), now.Add(InvitationTTL).Unix()).Scan(&inv); err != nil {
			return err
		}
		body := fmt.Sprintf("Hello %s,\n\nYou are invited to the %s dashboard on Reserva, as %s.\n"+
			"Choose your password here within 7 days to sign in:\n\n  %s\n\nYour sign-in email is %s.\n",
			u.Name, BusinessPlaceholder, u.Role, LinkPlaceholder, u.Email)
		return enqueue(ctx, tx, Message{Kind: KindInvitation, To: u.Email, Subject: "You are invited to the " + business + " dashboard",
			Body: body, LinkPath: paths.Invitation(strconv.FormatInt(inv, 10) + "." + secret)}, now)
	})
	if err != nil {
		return User{}, wrap("invite user", err)
	}
	return s.User(ctx, id)
}

// invitation finds the live invitation of token ("<id>.<secret>"): looked up by its id, its
// secret's hash compared in constant time. Errors: EUNAUTHORIZED (errBadInvitation).
func invitation(ctx context.Context, q querier, token string, now time.Time) (id, userID int64, err error) {
	idText, secret, ok := strings.Cut(token, ".")
	if !ok || len(token) > maxInviteTokenLen || secret == "" {
		return 0, 0, errBadInvitation
	}
	id, err = strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return 0, 0, errBadInvitation
	}
	var hash []byte
	var expires int64
	var used sql.NullInt64
	err = q.QueryRowContext(ctx, `SELECT token_hash, user_id, expires_at, used_at FROM invitations WHERE id = ?`, id).
		Scan(&hash, &userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, errBadInvitation
	}
	if err != nil {
		return 0, 0, err
	}
	if subtle.ConstantTimeCompare(hash, tokenHash(secret)) != 1 || used.Valid || now.Unix() >= expires {
		return 0, 0, errBadInvitation
	}
	return id, userID, nil
}

// ValidInvitation reports whether token is an invitation link that can still be used.
func (s *Store) ValidInvitation(ctx context.Context, token string) (bool, error) {
	_, _, err := invitation(ctx, s.r, token, s.now())
	if ErrorCode(err) == EUNAUTHORIZED {
		return false, nil
	}
	return err == nil, err
}

// AcceptInvitation sets the invited user's password with the token of their emailed link, which
// is then used up, and returns the user. Errors: EINVALID (password), EUNAUTHORIZED (the link
// is wrong, expired or used).
func (s *Store) AcceptInvitation(ctx context.Context, token, password string) (User, error) {
	if err := checkNewPassword(password); err != nil {
		return User{}, err
	}
	var userID int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		id, uid, err := invitation(ctx, tx, token, now)
		if err != nil {
			return err
		}
		userID = uid
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = ? WHERE id = ?`, now.Unix(), id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ?`,
			HashPassword(password), userID)
		return err
	})
	if err != nil {
		return User{}, wrap("accept invitation", err)
	}
	return s.User(ctx, userID)
}
