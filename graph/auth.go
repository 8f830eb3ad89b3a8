package graph

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/gqlerr"
	"github.com/reserva/reserva/internal/ratelimit"
)

// Viewer is who makes a request (see domain.Viewer): set by the dashboard's session middleware
// or, here, from an API token.
type Viewer = domain.Viewer

func viewerFrom(ctx context.Context) (Viewer, bool) { return domain.ViewerFrom(ctx) }

type liveKey struct{}

// live marks ctx as a long-lived connection's (a websocket): its viewer is checked again on
// every operation, since the session or token may have ended since it connected.
func live(ctx context.Context) context.Context { return context.WithValue(ctx, liveKey{}, true) }

// require returns the viewer if there is one with at least role (owner > staff).
// Errors: EUNAUTHORIZED without a viewer, EFORBIDDEN with too small a role.
func require(ctx context.Context, role domain.Role) (Viewer, error) {
	v, ok := viewerFrom(ctx)
	if !ok {
		return v, domain.Errorf(domain.EUNAUTHORIZED, "sign in, or send an API token of this business (Authorization: Bearer ...)")
	}
	if ctx.Value(liveKey{}) != nil {
		s, err := store(ctx)
		if err != nil {
			return v, err
		}
		if v, err = s.RecheckViewer(ctx, v); err != nil {
			return v, err
		}
	}
	if role == domain.RoleOwner && v.Role != domain.RoleOwner {
		return v, domain.Errorf(domain.EFORBIDDEN, "only owners can do this")
	}
	return v, nil
}

// storeFor is require followed by the tenant's store: what nearly every dashboard resolver
// starts with.
func storeFor(ctx context.Context, role domain.Role) (*domain.Store, Viewer, error) {
	v, err := require(ctx, role)
	if err != nil {
		return nil, v, err
	}
	s, err := store(ctx)
	return s, v, err
}

// storeDone runs op with the business's store for a viewer with role: the mutations that
// answer true once done, and the error otherwise.
func storeDone(ctx context.Context, role domain.Role, op func(*domain.Store, Viewer) error) (bool, error) {
	s, v, err := storeFor(ctx, role)
	if err != nil {
		return false, err
	}
	if err := op(s, v); err != nil {
		return false, err
	}
	return true, nil
}

// requireStaffOrSelf allows owners, and staff users acting on their own staff member.
func requireStaffOrSelf(ctx context.Context, staffID int64) error {
	v, err := require(ctx, domain.RoleStaff)
	if err != nil {
		return err
	}
	if v.Role != domain.RoleOwner && v.StaffID != staffID {
		return domain.Errorf(domain.EFORBIDDEN, "staff can change only their own schedule")
	}
	return nil
}

// actor names the viewer in the booking audit trail.
func actor(v Viewer) domain.Actor {
	if v.TokenID != 0 {
		return domain.APITokenActor(v.TokenID)
	}
	return domain.StaffActor(v.Name)
}

// authenticate resolves an "Authorization: Bearer" API token into a Viewer. Without the header it
// passes the request on as it is (a session middleware further out may have set a viewer).
func authenticate(w http.ResponseWriter, r *http.Request, s *domain.Store, failures *ratelimit.Limiter) (*http.Request, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return r, true
	}
	if failures.Exhausted(clientOf(r.Context())) {
		rl := rateLimited(r.Context(), "failed sign-ins", failures.RetryAfter(clientOf(r.Context())))
		w.Header().Set("Retry-After", strconv.Itoa(rl.Extensions["retryAfter"].(int)))
		gqlerr.Write(w, http.StatusTooManyRequests, rl)
		return nil, false
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		failures.Allow(clientOf(r.Context()))
		gqlerr.Write(w, http.StatusUnauthorized, gqlerr.New("UNAUTHENTICATED", "the Authorization header must be 'Bearer <api token>'"))
		return nil, false
	}
	v, err := viewerForToken(r.Context(), s, secret)
	if err != nil {
		failures.Allow(clientOf(r.Context()))
		gqlerr.Write(w, http.StatusUnauthorized, gqlerr.New("UNAUTHENTICATED", domain.ErrorMessage(err)))
		return nil, false
	}
	return r.WithContext(domain.WithViewer(r.Context(), v)), true
}

// viewerForToken is the Viewer of an API token secret. Errors: EUNAUTHORIZED.
func viewerForToken(ctx context.Context, s *domain.Store, secret string) (Viewer, error) {
	tok, err := s.AuthenticateAPIToken(ctx, strings.TrimSpace(secret))
	if err != nil {
		return Viewer{}, err
	}
	// A token acts with its own role, but never more than its user can now.
	u, err := s.User(ctx, tok.UserID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return Viewer{}, domain.Errorf(domain.EUNAUTHORIZED, "the API token's user no longer exists")
	}
	if err != nil {
		return Viewer{}, err
	}
	role := tok.Role
	if u.Role != domain.RoleOwner {
		role = domain.RoleStaff
	}
	return Viewer{UserID: u.ID, Name: tok.Name, Role: role, StaffID: u.StaffID, TokenID: tok.ID}, nil
}

// Cursors are opaque to clients: base64 of "start:id" for bookings, of "id" for customers.

func bookingCursor(c domain.Cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d", c.Start.Unix(), c.ID))
}

func parseBookingCursor(s string) (*domain.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	start, id, ok := strings.Cut(string(raw), ":")
	u, err1 := strconv.ParseInt(start, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if err != nil || !ok || err1 != nil || err2 != nil {
		return nil, domain.Invalid("after", "not a cursor from this list")
	}
	return &domain.Cursor{Start: time.Unix(u, 0), ID: i}, nil
}

func idCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func parseIDCursor(s string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	id, err2 := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || err2 != nil {
		return 0, domain.Invalid("after", "not a cursor from this list")
	}
	return id, nil
}

// Page sizes of connections ("first").
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// pageSize bounds "first". Relay allows 0: an empty page that tells whether there are items.
func pageSize(first *int) (int, error) {
	n := deref(first)
	if first == nil {
		n = DefaultPageSize
	}
	if n < 0 || n > MaxPageSize {
		return 0, domain.Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	return n, nil
}

// parseIntervals reads "HH:MM-HH:MM" strings.
func parseIntervals(weekday int, in []string) ([]domain.Interval, error) {
	var out []domain.Interval
	for _, s := range in {
		iv, ok := domain.ParseInterval(s)
		if !ok {
			return nil, domain.Invalid("hours", "interval %q on weekday %d is not like 09:00-13:00", s, weekday)
		}
		out = append(out, iv)
	}
	return out, nil
}
