package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Role is what a dashboard user (or API token) may do.
type Role string

const (
	RoleOwner Role = "owner" // everything, including users, tokens and settings
	RoleStaff Role = "staff" // bookings, customers and their own schedule
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleStaff }

// User is a person who signs in to the business's dashboard.
type User struct {
	ID        int64
	Email     string
	Name      string
	Role      Role
	StaffID   int64 // the staff member a staff user is (0: none)
	CreatedAt time.Time
	// SessionEpoch is recorded in a session at sign-in; a session with an older epoch has ended
	// (signed out everywhere, or the password was reset).
	SessionEpoch int64
	// NotifyBookings: an owner is mailed about new, moved and cancelled bookings (on unless they
	// opted out on their account page).
	NotifyBookings bool
}

// NewUser is what creating a user needs.
type NewUser struct {
	Email, Name, Password string
	Role                  Role
	StaffID               int64
}

// MinPasswordLen is the shortest password accepted, in characters; MaxPasswordLen the longest,
// in bytes (hashing is the expensive part of a sign-in: its input stays small).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 200
)

// argon2id parameters: the OWASP minimum (19 MiB, 2 passes); its cost is in docs/perf.md.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// argonSlots bounds how many argon2 hashes run at once: each takes 19 MiB, and a burst of
// sign-in attempts must not take the process's memory with it. (Process-wide on purpose: the
// memory is.)
var argonSlots = make(chan struct{}, 2)

func argonKey(password string, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey([]byte(password), salt, t, m, p, n)
}

// HashPassword returns an argon2id hash of password in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argonKey(password, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports, in constant time, whether password matches a HashPassword hash.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	if m > 64*1024 || t > 10 || p == 0 || len(want) == 0 { // not a hash this code made
		return false
	}
	got := argonKey(password, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked when an email is unknown, so that a wrong email takes as long as a wrong
// password and does not reveal who has an account.
var dummyHash = HashPassword("not a real password, only for timing")

// Validate tidies u (email lowercased, spaces trimmed) and checks every field: the rules a new
// user must meet, for callers that check before they create anything (sign-up checks the owner
// before the business exists). Errors: EINVALID, one per field at fault, joined.
func (u *NewUser) Validate() error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.Name = strings.TrimSpace(u.Name)
	var errs []error
	if !isEmail(u.Email) || len(u.Email) > MaxEmailLen {
		errs = append(errs, Invalid("email", "%q is not an email address (such as you@example.com)", u.Email))
	}
	if u.Name == "" || utf8.RuneCountInString(u.Name) > MaxNameLen {
		errs = append(errs, Invalid("name", "name must be 1 to %d characters", MaxNameLen))
	}
	if !u.Role.Valid() {
		errs = append(errs, Invalid("role", "role must be owner or staff"))
	}
	if err := checkNewPassword(u.Password); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkNewPassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return Invalid("password", "use at least %d and at most %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateUser adds a dashboard user. Errors: EINVALID, ECONFLICT (email taken).
func (s *Store) CreateUser(ctx context.Context, u NewUser) (User, error) {
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	var staffID any
	if u.StaffID != 0 {
		staffID = u.StaffID
	}
	id, err := s.insert(ctx, `INSERT INTO users (email, name, role, staff_id, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, u.Email, u.Name, u.Role, staffID, HashPassword(u.Password), s.now().Unix())
	switch {
	case isUnique(err):
		return User{}, Errorf(ECONFLICT, "a user with the email %s already exists", u.Email)
	case isForeignKey(err):
		return User{}, Invalid("staffId", "staff member %d does not exist", u.StaffID)
	case err != nil:
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return s.User(ctx, id)
}

const userColumns = `id, email, name, role, coalesce(staff_id, 0), created_at, session_epoch, notify_bookings`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.StaffID, &created, &u.SessionEpoch, &u.NotifyBookings)
	u.CreatedAt = time.Unix(created, 0).UTC()
	return u, err
}

// User returns user id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, notFound(err, "user", id)
}

// Users lists the dashboard users by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	return all(ctx, s.r, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY name, id`)
}

// Authenticate returns the user with email and password. Errors: EUNAUTHORIZED, which never says
// whether the email exists.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	var id int64
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE email = ?`,
		strings.ToLower(strings.TrimSpace(email))).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		checkPassword(dummyHash, password)
		return User{}, Errorf(EUNAUTHORIZED, "the email or password is wrong")
	}
	if err != nil {
		return User{}, err
	}
	if !checkPassword(hash, password) {
		return User{}, Errorf(EUNAUTHORIZED, "the email or password is wrong")
	}
	return s.User(ctx, id)
}

// SetUserRole changes a user's role; the business always keeps an owner. Errors: ENOTFOUND,
// EINVALID, ECONFLICT.
func (s *Store) SetUserRole(ctx context.Context, id int64, role Role) (User, error) {
	if !role.Valid() {
		return User{}, Invalid("role", "role must be owner or staff")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := keepAnOwner(ctx, tx, id, role); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id)
		return err
	})
	if err != nil {
		return User{}, wrap("set user role", err)
	}
	return s.User(ctx, id)
}

// RemoveUser deletes a user and their API tokens; the business always keeps an owner.
func (s *Store) RemoveUser(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := keepAnOwner(ctx, tx, id, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		return err
	})
	return wrap("remove user", err)
}

// keepAnOwner fails when user id is the last owner and is about to become newRole ("" = removed).
func keepAnOwner(ctx context.Context, tx *sql.Tx, id int64, newRole Role) error {
	var role Role
	if err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE id = ?`, id).Scan(&role); err != nil {
		return notFound(err, "user", id)
	}
	if role != RoleOwner || newRole == RoleOwner {
		return nil
	}
	var owners int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'owner'`).Scan(&owners); err != nil {
		return err
	}
	if owners <= 1 {
		return Errorf(ECONFLICT, "the business must keep at least one owner")
	}
	return nil
}

// APIToken is a credential for an integration. Its secret is shown once, when created.
type APIToken struct {
	ID         int64
	Name       string
	Role       Role
	UserID     int64
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never
	Revoked    bool
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateAPIToken makes a token acting with role for user userID and returns it with its secret.
func (s *Store) CreateAPIToken(ctx context.Context, name string, role Role, userID int64) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxTokenNameLen {
		return APIToken{}, "", Invalid("name", "name must be 1 to %d characters", MaxTokenNameLen)
	}
	if !role.Valid() {
		return APIToken{}, "", Invalid("role", "role must be owner or staff")
	}
	secret := "rsv_" + rand.Text() + rand.Text()
	id, err := s.insert(ctx, `INSERT INTO api_tokens (name, token_hash, role, user_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		name, tokenHash(secret), role, userID, s.now().Unix())
	if err != nil {
		return APIToken{}, "", fmt.Errorf("create api token: %w", err)
	}
	t, err := s.apiToken(ctx, `id = ?`, id)
	return t, secret, err
}

func (s *Store) apiToken(ctx context.Context, where string, args ...any) (APIToken, error) {
	var t APIToken
	var created int64
	var used, revoked sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, role, coalesce(user_id, 0), created_at, last_used_at, revoked_at
		FROM api_tokens WHERE `+where, args...).Scan(&t.ID, &t.Name, &t.Role, &t.UserID, &created, &used, &revoked)
	t.CreatedAt = time.Unix(created, 0).UTC()
	if used.Valid {
		t.LastUsedAt = time.Unix(used.Int64, 0).UTC()
	}
	t.Revoked = revoked.Valid
	return t, err
}

// APITokens lists the business's tokens (never their secrets), newest first.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	ids, err := ids(ctx, s.r, `SELECT id FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	out := make([]APIToken, 0, len(ids))
	for _, id := range ids {
		t, err := s.apiToken(ctx, `id = ?`, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// RevokeAPIToken stops token id from working. Errors: ENOTFOUND.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, s.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("revoke api token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "api token %d not found", id)
	}
	return nil
}

// AuthenticateAPIToken returns the live token whose secret is given. Errors: EUNAUTHORIZED.
func (s *Store) AuthenticateAPIToken(ctx context.Context, secret string) (APIToken, error) {
	if len(secret) < 20 || len(secret) > 200 {
		return APIToken{}, Errorf(EUNAUTHORIZED, "the API token is not valid")
	}
	t, err := s.apiToken(ctx, `token_hash = ? AND revoked_at IS NULL`, tokenHash(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, Errorf(EUNAUTHORIZED, "the API token is not valid (revoked, or from another business?)")
	}
	if err != nil {
		return APIToken{}, err
	}
	// Record use at most once a minute, so reads do not turn into a write each.
	now := s.now().Unix()
	if now-t.LastUsedAt.Unix() >= 60 {
		if _, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, t.ID); err != nil {
			return APIToken{}, fmt.Errorf("record api token use: %w", err)
		}
	}
	return t, nil
}

// RecheckViewer confirms that v may still act, for connections that outlive a request (live
// subscriptions): its user still exists, its token is not revoked, its session not ended; and
// returns it with its role as it is now. Errors: EUNAUTHORIZED.
func (s *Store) RecheckViewer(ctx context.Context, v Viewer) (Viewer, error) {
	gone := Errorf(EUNAUTHORIZED, "signed out, or access was revoked: sign in again")
	u, err := s.User(ctx, v.UserID)
	if ErrorCode(err) == ENOTFOUND {
		return Viewer{}, gone
	}
	if err != nil {
		return Viewer{}, err
	}
	role := u.Role
	if v.TokenID != 0 {
		tok, err := s.apiToken(ctx, `id = ? AND revoked_at IS NULL`, v.TokenID)
		if errors.Is(err, sql.ErrNoRows) {
			return Viewer{}, gone
		}
		if err != nil {
			return Viewer{}, err
		}
		if tok.Role != RoleOwner {
			role = RoleStaff
		}
	}
	if v.Session != "" && u.SessionEpoch != v.Epoch {
		return Viewer{}, gone
	}
	if v.Session != "" {
		var n int
		err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE token = ? AND expiry > ?`,
			v.Session, float64(s.now().UnixMilli())/1000).Scan(&n)
		if err != nil {
			return Viewer{}, err
		}
		if n == 0 {
			return Viewer{}, gone
		}
	}
	v.Role, v.StaffID = role, u.StaffID
	return v, nil
}

// RenameUser changes user id's name, as the dashboard shows it and as their actions are
// recorded from now on. Errors: EINVALID, ENOTFOUND.
func (s *Store) RenameUser(ctx context.Context, id int64, name string) (User, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen {
		return User{}, Invalid("name", "name must be 1 to %d characters", MaxNameLen)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE users SET name = ? WHERE id = ?`, name, id)
	if err != nil {
		return User{}, fmt.Errorf("rename user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return User{}, Errorf(ENOTFOUND, "user %d not found", id)
	}
	return s.User(ctx, id)
}

// ChangePassword sets user id's password once their current one is checked. Every session of
// theirs ends (the session epoch moves on): the caller signs the one that asked in again, with
// the user returned. API tokens stay: the user proved they hold the account. Errors: EINVALID
// (field "current" when it is not their password, "password" when the new one is too short or
// long), ENOTFOUND.
func (s *Store) ChangePassword(ctx context.Context, id int64, current, password string) (User, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, Errorf(ENOTFOUND, "user %d not found", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("change password of user %d: %w", id, err)
	}
	if !checkPassword(hash, current) {
		return User{}, Invalid("current", "that is not your current password")
	}
	if err := checkNewPassword(password); err != nil {
		return User{}, err
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ?`,
		HashPassword(password), id); err != nil {
		return User{}, fmt.Errorf("change password of user %d: %w", id, err)
	}
	return s.User(ctx, id)
}

// SetNotifyBookings sets whether user id is mailed about new, moved and cancelled bookings (an
// owner; staff users hear of theirs through their staff member). Errors: ENOTFOUND.
func (s *Store) SetNotifyBookings(ctx context.Context, id int64, on bool) (User, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET notify_bookings = ? WHERE id = ?`, on, id)
	if err != nil {
		return User{}, fmt.Errorf("set booking mail of user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return User{}, Errorf(ENOTFOUND, "user %d not found", id)
	}
	return s.User(ctx, id)
}
