package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/internal/ratelimit"
)

// loginView is the sign-in form of a business's dashboard.
type loginView struct {
	Business string
	Slug     string
	Email    string // kept after a failed attempt
	Error    string
	Notice   string
}

// loginNotices are what a redirect to the sign-in page may ask it to say (fixed texts).
var loginNotices = map[string]string{
	"everywhere": "You are signed out on every device.",
	"out":        "You are signed out.",
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if _, ok := domain.ViewerFrom(r.Context()); ok {
		http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminHome), http.StatusSeeOther)
		return
	}
	render(w, r, http.StatusOK, loginPage(loginView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Notice: loginNotices[r.URL.Query().Get("msg")]}))
}

// login signs a dashboard user in: a new session token (so one planted before sign-in is
// worthless), the user in the session, and on to the dashboard.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	v := loginView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Email: strings.TrimSpace(r.PostFormValue("email"))}
	// Every attempt counts, taken before the password is checked, so parallel guesses cannot
	// slip past the limit.
	if key := l.Tenant.ID + "/" + clientIP(r); !s.loginLimit.Allow(key) {
		v.Error = "Too many attempts. Try again in " + tooMany(w, s.loginLimit, key) + "."
		render(w, r, http.StatusTooManyRequests, loginPage(v))
		return
	}
	// No account has an email this long: it is wrong, and not worth keeping in the throttle or
	// the log (a body may hold a megabyte of it).
	if len(v.Email) > domain.MaxEmailLen {
		v.Email = ""
		v.Error = "The email or password is wrong."
		render(w, r, http.StatusUnauthorized, loginPage(v))
		return
	}
	// And per account, whichever addresses the guesses come from.
	account := accountKey(l.Tenant.ID, v.Email)
	wait, backoff := s.accountLimit.attempt(account)
	if wait > 0 {
		v.Error = fmt.Sprintf("Too many sign-in attempts for this account. Try again in %s, or reset the password.",
			humanWait(wait))
		render(w, r, http.StatusTooManyRequests, loginPage(v))
		return
	}
	if backoff > 0 {
		s.Log.WarnContext(r.Context(), "sign-in attempts for one account: backing off", "email", v.Email,
			"address", clientIP(r), "backoff", backoff)
	}
	u, err := s.store(r).Authenticate(r.Context(), v.Email, r.PostFormValue("password"))
	if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
		v.Error = "The email or password is wrong."
		render(w, r, http.StatusUnauthorized, loginPage(v))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.accountLimit.succeeded(account)
	if err := signIn(r.Context(), s.sessions(r), u); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminHome), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if err := s.sessions(r).Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminLogin+"?msg=out"), http.StatusSeeOther)
}

// requireUser sends visitors who are not signed in to the login page.
func (s *Server) requireUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := domain.ViewerFrom(r.Context()); !ok {
			l := leaseOf(r)
			http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminLogin), http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// clientIP is the address the request came from: the direct peer, or behind a trusted proxy
// the client it forwarded for (withClient found it). It is the one client-address function of
// web; graph reads the same ratelimit.ClientFrom.
func clientIP(r *http.Request) string { return ratelimit.ClientFrom(r) }

// withClient finds each request's client address once (Server.TrustedProxies), for every
// limit kept by address, here and in the GraphQL API.
func (s *Server) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(ratelimit.WithClient(r.Context(), s.TrustedProxies.Client(r))))
	})
}

// tooMany says how long to wait on a 429 answer: Retry-After in seconds, and the same words
// for people.
func tooMany(w http.ResponseWriter, l *ratelimit.Limiter, key string) string {
	secs := ratelimit.Seconds(l.RetryAfter(key))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if secs == 1 {
		return "1 second"
	}
	return strconv.Itoa(secs) + " seconds"
}

// humanWait says d in whole minutes, or seconds under a minute ("2 minutes", "40 seconds").
func humanWait(d time.Duration) string {
	if d > time.Minute {
		m := int((d + time.Minute - 1) / time.Minute)
		return fmt.Sprintf("%d minutes", m)
	}
	return fmt.Sprintf("%d seconds", max(1, int((d+time.Second-1)/time.Second)))
}

// accountKey names an account for the sign-in throttle: its business and its email, as the
// domain compares emails.
func accountKey(tenantID, email string) string {
	return tenantID + "/" + strings.ToLower(strings.TrimSpace(email))
}
