package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// sessionManagers hands out one scs session manager per tenant, each with its own cookie name,
// so signing in to one business does not sign the browser out of another. Sessions live in each
// tenant's own database (deleting a business deletes its sessions), so a cookie from one
// business is no session at all on another.
type sessionManagers struct {
	secure bool
	mu     sync.Mutex
	byID   map[string]*scs.SessionManager
}

func (sm *sessionManagers) of(tenantID string) *scs.SessionManager {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if m := sm.byID[tenantID]; m != nil {
		return m
	}
	m := newSessions(sm.secure)
	m.Cookie.Name = "reserva_" + tenantID
	sm.byID[tenantID] = m
	return m
}

// sessions returns the session manager of the request's tenant.
func (s *Server) sessions(r *http.Request) *scs.SessionManager {
	l := leaseOf(r)
	return s.sessionManagers.of(l.Tenant.ID)
}

// sessionPrototype is the one scs.New of the process: scs.New starts a memory store's cleanup
// goroutine that never ends, which one manager per business ever served would multiply (sessions
// live in each tenant's database, so the memory store is never used). A copy keeps New's
// defaults and its context key, which is safe to share: a request belongs to one business.
var sessionPrototype = sync.OnceValue(scs.New)

func newSessions(secure bool) *scs.SessionManager {
	sm := new(scs.SessionManager)
	*sm = *sessionPrototype()
	sm.Store = tenantSessionStore{}
	sm.Lifetime = 7 * 24 * time.Hour // absolute: sign in again after a week
	sm.IdleTimeout = 12 * time.Hour  // or after half a day unused
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure // set when served over TLS (directly or behind a proxy)
	sm.Cookie.Persist = true
	return sm
}

// tenantSessionStore is an scs store over the sessions table of the request's tenant.
type tenantSessionStore struct{}

var errNoTenant = errors.New("session store used outside a tenant's request")

func (tenantSessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	st, err := sessionStore(ctx)
	if err != nil {
		return nil, false, err
	}
	return st.Session(ctx, token)
}

func (tenantSessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	st, err := sessionStore(ctx)
	if err != nil {
		return err
	}
	return st.SaveSession(ctx, token, b, expiry)
}

// tenantGone marks a context whose tenant was just deleted: its sessions went with it.
type tenantGone struct{}

func (tenantSessionStore) DeleteCtx(ctx context.Context, token string) error {
	if ctx.Value(tenantGone{}) != nil {
		return nil
	}
	st, err := sessionStore(ctx)
	if err != nil {
		return err
	}
	return st.DeleteSession(ctx, token)
}

// sessionStore is the domain store of ctx's tenant, where its sessions are kept.
func sessionStore(ctx context.Context) (*domain.Store, error) {
	l, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errNoTenant
	}
	return domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now), nil
}

// The context-free methods cannot know the tenant: scs calls the Ctx ones.
func (tenantSessionStore) Find(string) ([]byte, bool, error)      { return nil, false, errNoTenant }
func (tenantSessionStore) Commit(string, []byte, time.Time) error { return errNoTenant }
func (tenantSessionStore) Delete(string) error                    { return errNoTenant }

// withSessions loads and saves the session of tenant requests and puts the signed-in user, if
// any, in the context as the request's domain.Viewer. Platform requests pass untouched.
func (s *Server) withSessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := tenancy.FromContext(r.Context()); !ok {
			next.ServeHTTP(w, r)
			return
		}
		sm := s.sessions(r)
		if !sessionUsed(r, sm.Cookie.Name) {
			// No session to read and none the page could start: what LoadAndSave would have
			// done comes down to its Vary header, kept so that caches see the same answer.
			w.Header().Add("Vary", "Cookie")
			next.ServeHTTP(w, r)
			return
		}
		sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := sm.GetInt64(r.Context(), sessionUserKey); id != 0 {
				u, err := s.store(r).User(r.Context(), id)
				switch {
				case err == nil && u.SessionEpoch != sm.GetInt64(r.Context(), sessionEpochKey):
					// Signed out everywhere (or the password was reset) since this session began.
					sm.Remove(r.Context(), sessionUserKey)
				case err == nil:
					v := domain.ViewerOf(u)
					v.Session = sm.Token(r.Context())
					r = r.WithContext(domain.WithViewer(r.Context(), v))
				case domain.ErrorCode(err) == domain.ENOTFOUND:
					sm.Remove(r.Context(), sessionUserKey) // the user was removed
				default:
					s.serverError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})).ServeHTTP(w, r)
	})
}

// sessionUsed reports whether a tenant request needs its session loaded: it brings a session
// cookie (a signed-in user reading the public pages or the API stays signed in), or it is for
// the dashboard, whose pages (sign-in, password reset, invitations, flashes) are the only ones
// that read or start a session without one. The public pages and the API, most of the traffic,
// skip the session's load and save, and the allocations of both, when no cookie comes.
func sessionUsed(r *http.Request, cookie string) bool {
	if _, err := r.Cookie(cookie); err == nil {
		return true
	}
	// The first segment is the business (the tenant middleware puts it there for a business
	// served on its own host), however its slug was spelt.
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return rest == "admin" || strings.HasPrefix(rest, "admin/")
}

// signIn starts u's session on sm: a new token (so one planted before sign-in is worthless)
// holding the user and the session epoch it signed in under.
func signIn(ctx context.Context, sm *scs.SessionManager, u domain.User) error {
	if err := sm.RenewToken(ctx); err != nil {
		return err
	}
	sm.Put(ctx, sessionUserKey, u.ID)
	sm.Put(ctx, sessionEpochKey, u.SessionEpoch)
	return nil
}

const (
	sessionUserKey  = "user_id"
	sessionEpochKey = "epoch" // the user's session epoch at sign-in
)

// store returns the domain store of the request's tenant (only below the tenancy middleware).
func (s *Server) store(r *http.Request) *domain.Store {
	l := leaseOf(r)
	return domain.SharedStore(l.DB, l.Location)
}
