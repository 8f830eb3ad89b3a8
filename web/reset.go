package web

import (
	"context"
	"net/http"

	"github.com/a-h/templ"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// Password reset by emailed link: /admin/forgot asks for the email, the outbox mails a one-time
// link to /admin/reset/{token}, which sets a new password and signs the user in.

type forgotView struct {
	Business, Slug string
	Form           *form
	Sent           bool
}

// forgotSentKey is the session key of the email a reset link was just asked for, for the page
// the request redirects to.
const forgotSentKey = "forgot-sent"

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	v := forgotView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Form: newForm(nil)}
	if email := s.sessions(r).PopString(r.Context(), forgotSentKey); email != "" {
		v.Form.Values.Set("email", email)
		v.Sent = true
	}
	render(w, r, http.StatusOK, forgotPage(v))
}

func (s *Server) forgot(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	v := forgotView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Form: newForm(r.PostForm)}
	// Shares the sign-in limit: both guess at accounts.
	if key := l.Tenant.ID + "/" + clientIP(r); !s.loginLimit.Allow(key) {
		v.Form.Error = "Too many attempts. Try again in " + tooMany(w, s.loginLimit, key) + "."
		render(w, r, http.StatusTooManyRequests, forgotPage(v))
		return
	}
	err := s.store(r).RequestPasswordReset(r.Context(), v.Form.Get("email"), l.Tenant.Name)
	if err != nil && !v.Form.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	if err != nil {
		render(w, r, http.StatusUnprocessableEntity, forgotPage(v))
		return
	}
	// Post-redirect-get: reloading the answer must not mail another link.
	s.sessions(r).Put(r.Context(), forgotSentKey, v.Form.Get("email"))
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminForgot), http.StatusSeeOther)
}

type resetView struct {
	Business, Slug, Token string
	Form                  *form
	Expired               bool
}

func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) {
	s.linkForm(w, r, s.store(r).ValidResetLink, resetPage)
}

// linkForm shows the password form a mailed link opens (a reset, an invitation): 410 with the
// page's plain answer when valid says the link does not work (wrong, expired, used).
func (s *Server) linkForm(w http.ResponseWriter, r *http.Request, valid func(context.Context, string) (bool, error), page func(resetView) templ.Component) {
	l := leaseOf(r)
	token := r.PathValue("token")
	ok, err := valid(r.Context(), token)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := resetView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Token: token, Form: newForm(nil), Expired: !ok}
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the address
	status := http.StatusOK
	if !ok {
		status = http.StatusGone
	}
	render(w, r, status, page(v))
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	token := r.PathValue("token")
	v := resetView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Token: token, Form: newForm(r.PostForm)}
	w.Header().Set("Referrer-Policy", "no-referrer")
	password := v.Form.Get("password")
	if password != v.Form.Get("confirm") {
		v.Form.invalid("confirm", "the two passwords differ")
		render(w, r, http.StatusUnprocessableEntity, resetPage(v))
		return
	}
	// The user's API tokens go too, unless they ask to keep them: a reset often follows a
	// takeover, and whoever took the account over may have made tokens.
	keepTokens := v.Form.Get("keepTokens") != ""
	u, err := s.store(r).ResetPassword(r.Context(), token, password, !keepTokens)
	switch domain.ErrorCode(err) {
	case "":
	case domain.EUNAUTHORIZED:
		v.Expired = true
		render(w, r, http.StatusGone, resetPage(v))
		return
	case domain.EINVALID:
		v.Form.fail(err, nil)
		render(w, r, http.StatusUnprocessableEntity, resetPage(v))
		return
	default:
		s.serverError(w, r, err)
		return
	}
	// The owner of the address proved it: guesses at the account before the reset no longer
	// hold its sign-ins back.
	s.accountLimit.succeeded(accountKey(l.Tenant.ID, u.Email))
	// Every older session ended with the reset; this browser starts a new one.
	sm := s.sessions(r)
	if err := signIn(r.Context(), sm, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	msg := "Your password is changed, every other session is signed out and your API tokens are revoked."
	if keepTokens {
		msg = "Your password is changed, and every other session is signed out. Your API tokens still work."
	}
	sm.Put(r.Context(), "flash", msg)
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminHome), http.StatusSeeOther)
}

// An invited user opens /admin/invite/{token} from their mail, chooses a password and is signed
// in. A link that does not work (wrong, expired, used) gets one plain answer.

func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request) {
	s.linkForm(w, r, s.store(r).ValidInvitation, invitePage)
}

func (s *Server) acceptInvite(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	token := r.PathValue("token")
	v := resetView{Business: l.Tenant.Name, Slug: l.Tenant.Slug, Token: token, Form: newForm(r.PostForm)}
	w.Header().Set("Referrer-Policy", "no-referrer")
	if v.Form.Get("password") != v.Form.Get("confirm") {
		v.Form.invalid("confirm", "the two passwords differ")
		render(w, r, http.StatusUnprocessableEntity, invitePage(v))
		return
	}
	u, err := s.store(r).AcceptInvitation(r.Context(), token, v.Form.Get("password"))
	switch domain.ErrorCode(err) {
	case "":
	case domain.EUNAUTHORIZED:
		v.Expired = true
		render(w, r, http.StatusGone, invitePage(v))
		return
	case domain.EINVALID:
		v.Form.fail(err, nil)
		render(w, r, http.StatusUnprocessableEntity, invitePage(v))
		return
	default:
		s.serverError(w, r, err)
		return
	}
	sm := s.sessions(r)
	if err := signIn(r.Context(), sm, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	sm.Put(r.Context(), "flash", "Welcome, "+u.Name+": your password is saved and you are signed in.")
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminHome), http.StatusSeeOther)
}
