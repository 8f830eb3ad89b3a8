package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	render(w, r, http.StatusOK, signupPage(signupView{Timezone: "Europe/Madrid", GuessZone: true}))
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// suggestSlug turns a business name into a slug candidate: "Café Olé & Co" → "caf-ol-co".
func suggestSlug(name string) string {
	s := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > tenancy.MaxSlugLen {
		s = strings.TrimRight(s[:tenancy.MaxSlugLen], "-")
	}
	return s
}

// signup creates a business and its owner, signs the owner in, and opens the dashboard.
// Everything the visitor typed is checked first, with the domain's own rules, and a form with
// mistakes does not count against the address's sign-up allowance. The business and its owner
// are then made in one step (tenancy.ProvisionWith): either both exist or neither does.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	v := signupView{
		Name: strings.TrimSpace(r.PostFormValue("name")), Slug: strings.TrimSpace(r.PostFormValue("slug")),
		Timezone: strings.TrimSpace(r.PostFormValue("timezone")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Errors: map[string]string{},
	}
	if v.Slug == "" {
		v.Slug = suggestSlug(v.Name)
	}
	if s.signupLimit.Exhausted(clientIP(r)) {
		v.Message = s.tooManySignups(w, r)
		render(w, r, http.StatusTooManyRequests, signupPage(v))
		return
	}
	owner := domain.NewUser{Email: v.Email, Name: "Owner", Role: domain.RoleOwner, Password: r.PostFormValue("password")}
	if err := tenancy.ValidateSlug(v.Slug); err != nil {
		v.Errors["slug"] = err.Error()
	}
	if err := (tenancy.NewTenant{Slug: "valid-slug", Name: v.Name, Timezone: v.Timezone}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			switch {
			case strings.HasPrefix(line, "name"):
				v.Errors["name"] = line
			case strings.HasPrefix(line, "timezone"):
				v.Errors["timezone"] = line
			}
		}
	}
	fieldErrors(owner.Validate(), v.Errors)
	// The commonest mistake, an address another business has, is found before the allowance is
	// used too (the registry still has the last word when the business is registered).
	if _, ok := v.Errors["slug"]; !ok {
		if _, redirect, err := s.Tenants.Resolve(r.Context(), v.Slug); err == nil && redirect == "" {
			v.Errors["slug"] = slugTaken(v.Slug)
		}
	}
	if len(v.Errors) > 0 {
		render(w, r, http.StatusUnprocessableEntity, signupPage(v.localized(r.Context())))
		return
	}
	if !s.signupLimit.Allow(clientIP(r)) { // taken now: parallel sign-ups cannot slip past it
		v.Message = s.tooManySignups(w, r)
		render(w, r, http.StatusTooManyRequests, signupPage(v))
		return
	}
	var u domain.User
	t, err := s.Tenants.ProvisionWith(r.Context(), tenancy.NewTenant{Slug: v.Slug, Name: v.Name, Timezone: v.Timezone},
		func(ctx context.Context, l *tenancy.Lease) (err error) {
			store := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now)
			if u, err = store.CreateUser(ctx, owner); err != nil {
				return err
			}
			// In the same step as the business: a business never lacks its welcome mail.
			return store.QueueWelcome(ctx, u)
		})
	if errors.Is(err, tenancy.ErrSlugTaken) {
		v.Errors["slug"] = slugTaken(v.Slug)
		render(w, r, http.StatusUnprocessableEntity, signupPage(v.localized(r.Context())))
		return
	}
	if fieldErrors(err, v.Errors) {
		render(w, r, http.StatusUnprocessableEntity, signupPage(v.localized(r.Context())))
		return
	}
	if errors.Is(err, tenancy.ErrUnavailable) {
		// Nothing was made (a cluster between controllers, say): the form comes back as filled
		// in, to send again in a moment.
		s.Log.WarnContext(r.Context(), "sign-up refused for now", "slug", v.Slug, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(signupRetryAfter))
		v.Message = tr(r.Context(), "signup.unavailable")
		render(w, r, http.StatusServiceUnavailable, signupPage(v.localized(r.Context())))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// Sign the owner in: a new session in the new business's database. The business is whole
	// by now: if this fails, the owner signs in on the login page.
	ctx, cancel := context.WithTimeout(r.Context(), signupSignInWait)
	defer cancel()
	lease, err := s.Tenants.Acquire(ctx, t)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer lease.Release()
	ctx = tenancy.WithLease(ctx, lease)
	sm := s.sessionManagers.of(t.ID)
	ctx, err = sm.Load(ctx, "")
	if err == nil {
		err = signIn(ctx, sm, u)
	}
	if err == nil {
		var token string
		token, expiry, cerr := sm.Commit(ctx)
		if err = cerr; err == nil {
			sm.WriteSessionCookie(ctx, w, token, expiry)
		}
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// With --replica-ack sync, the new business is acknowledged once the replica holds it.
	if err := s.Tenants.SyncTenant(ctx, t); err != nil {
		s.unconfirmedWrite(w, r, t.Slug, err)
		return
	}
	http.Redirect(w, r, paths.Admin(t.Slug, paths.AdminHome), http.StatusSeeOther)
}

func slugTaken(slug string) string { return "/" + slug + " is taken: choose another address." }

// signupSignInWait bounds how long a new owner's first sign-in waits for the new business.
const signupSignInWait = 10 * time.Second

// fieldErrors puts each EINVALID domain error in err (one, or several joined) under its field
// and reports whether there were any.
func fieldErrors(err error, fields map[string]string) bool {
	found := false
	var visit func(error)
	visit = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				visit(e)
			}
			return
		}
		var e *domain.Error
		if errors.As(err, &e) && e.Code == domain.EINVALID {
			if _, taken := fields[e.Field]; !taken {
				fields[e.Field] = e.Message
			}
			found = true
		}
	}
	if err != nil {
		visit(err)
	}
	return found
}

// tooManySignups is the message of a refused sign-up, with when to try again, which it also
// sends as Retry-After (the allowance comes back one business every ten minutes).
// signupRetryAfter is the Retry-After, in seconds, of a sign-up refused for now (about the
// time a cluster takes to elect a new controller).
const signupRetryAfter = 5

func (s *Server) tooManySignups(w http.ResponseWriter, r *http.Request) string {
	wait := s.signupLimit.RetryAfter(clientIP(r))
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(wait)))
	return tr(r.Context(), "signup.too_many", map[string]any{"Wait": i18n.From(r.Context()).Wait(wait)})
}

// signupView is the sign-up form of a new business.
// localized returns v with its field errors in the visitor's language. The rules' own
// messages (tenancy's, the domain's) are English and name the exact problem; another language
// gets each field's rule in full instead, and a taken address says so.
func (v signupView) localized(ctx context.Context) signupView {
	if i18n.From(ctx).Lang() == "en" {
		return v
	}
	errs := make(map[string]string, len(v.Errors))
	for field, msg := range v.Errors {
		switch field {
		case "name", "slug", "timezone", "email", "password":
			msg = tr(ctx, "signup.error."+field)
		}
		errs[field] = msg
	}
	if v.Errors["slug"] == slugTaken(v.Slug) {
		errs["slug"] = tr(ctx, "signup.taken", map[string]any{"Slug": v.Slug})
	}
	v.Errors = errs
	return v
}

type signupView struct {
	Name, Slug, Timezone, Email string
	GuessZone                   bool // a fresh form: app.js picks the browser's zone
	Errors                      map[string]string
	Message                     string
}
