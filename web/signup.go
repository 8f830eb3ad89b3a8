package web

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/reserva/reserva/domain"
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
func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	v := signupView{
		Name: strings.TrimSpace(r.PostFormValue("name")), Slug: strings.TrimSpace(r.PostFormValue("slug")),
		Timezone: strings.TrimSpace(r.PostFormValue("timezone")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Errors: map[string]string{},
	}
	password := r.PostFormValue("password")
	if v.Slug == "" {
		v.Slug = suggestSlug(v.Name)
	}
	if !s.signupLimit.Allow(clientIP(r)) {
		v.Message = "Too many sign-ups from your address. Please try again later."
		render(w, r, http.StatusTooManyRequests, signupPage(v))
		return
	}
	// Check the owner's details before the business exists, so a bad password loses nothing.
	if len([]rune(password)) < domain.MinPasswordLen {
		v.Errors["password"] = "Use at least 10 characters."
	}
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
	if !strings.Contains(v.Email, "@") {
		v.Errors["email"] = "Enter the email you will sign in with."
	}
	if len(v.Errors) > 0 {
		render(w, r, http.StatusUnprocessableEntity, signupPage(v))
		return
	}
	t, err := s.Tenants.Provision(r.Context(), tenancy.NewTenant{Slug: v.Slug, Name: v.Name, Timezone: v.Timezone})
	if errors.Is(err, tenancy.ErrSlugTaken) {
		v.Errors["slug"] = "/" + v.Slug + " is taken: choose another address."
		render(w, r, http.StatusUnprocessableEntity, signupPage(v))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	lease, err := s.Tenants.Acquire(r.Context(), t)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer lease.Release()
	ctx := tenancy.WithLease(r.Context(), lease)
	r = r.WithContext(ctx)
	u, err := s.store(r).CreateUser(ctx, domain.NewUser{Email: v.Email, Name: "Owner", Role: domain.RoleOwner, Password: password})
	if err != nil {
		// Without its owner nobody could use the business: take it away again.
		if derr := s.Tenants.Delete(ctx, t.ID); derr != nil {
			s.Log.ErrorContext(ctx, "remove half-made business", "tenant", t.Slug, "err", derr)
		}
		var e *domain.Error
		if errors.As(err, &e) && e.Code == domain.EINVALID {
			v.Errors[e.Field] = e.Message
			render(w, r, http.StatusUnprocessableEntity, signupPage(v))
			return
		}
		s.serverError(w, r, err)
		return
	}
	// Sign the owner in: a new session in the new business's database.
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
	http.Redirect(w, r, "/"+t.Slug+"/admin", http.StatusSeeOther)
}
