package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

// langCookie keeps a visitor's explicit choice of language (?lang=es) for the pages after.
const langCookie = "lang"

// localize puts the visitor's language in the request's context, for the public pages (a
// business's site, sign-up): an explicit ?lang= (kept in a cookie) among the languages Reserva
// speaks, else the visitor's Accept-Language among them, else the business's locale setting.
// The dashboard and the APIs stay in English: they pass through untouched.
//
// It runs twice: outside the tenant middleware, so that what that answers itself (an address
// that is no business) speaks the visitor's language, and inside it, where the business's
// setting is known and becomes the default.
func (s *Server) localize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !publicPage(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		business := ""
		if _, ok := tenancy.FromContext(r.Context()); ok {
			st, err := s.store(r).Settings(r.Context())
			if err != nil {
				s.fail(w, r, err)
				return
			}
			business = st.Locale
		}
		outer := r.Context().Value(pageURLKey{}) == nil // the first of the two passes
		explicit := ""
		if chosen := i18n.Match(r.URL.Query().Get("lang")); chosen != "" {
			explicit = chosen
			if outer {
				http.SetCookie(w, &http.Cookie{Name: langCookie, Value: chosen, Path: "/", MaxAge: 365 * 24 * 60 * 60,
					HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
			}
		} else if c, err := r.Cookie(langCookie); err == nil {
			explicit = c.Value
		}
		lang := i18n.Negotiate(explicit, r.Header.Get("Accept-Language"), business)
		w.Header().Set("Content-Language", lang)
		if outer {
			w.Header().Add("Vary", "Accept-Language, Cookie")
		}
		loc := i18n.For(lang)
		if !outer && r.Context().Value(pageURLKey{}) == r.URL && i18n.From(r.Context()) == loc {
			// The inner pass came to the outer's answer (the business's own language did not
			// change it): the context already says so, and a copy of the request would be waste.
			next.ServeHTTP(w, r)
			return
		}
		ctx := context.WithValue(i18n.WithLocalizer(r.Context(), loc), pageURLKey{}, r.URL)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// publicPage reports whether path is a page customers read (translated), rather than the
// dashboard, the GraphQL API, or the platform's probes.
func publicPage(path string) bool {
	for seg := range strings.SplitSeq(strings.Trim(path, "/"), "/") { // no slice: every request asks
		switch seg {
		case "admin", "graphql":
			return false
		}
	}
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return true
}

// tr is message id in the language of the request in ctx, for handlers and templates.
func tr(ctx context.Context, id string, data ...map[string]any) string {
	return i18n.From(ctx).T(id, data...)
}

// pageURLKey holds, in a public page's context, the address of the page, for the language links.
type pageURLKey struct{}

// languageNames are the languages Reserva speaks, each named in itself (as a visitor who reads
// only that language looks for it).
var languageNames = []struct{ Lang, Name string }{
	{"en", "English"}, {"es", "Español"}, {"de", "Deutsch"}, {"fr", "Français"},
}

// languageOption is one entry of the language switcher.
type languageOption struct {
	Lang, Name, URL string
	Current         bool
}

// languageOptions are the language switcher's entries for the page in ctx: the page's own
// address with ?lang= set (its other parameters kept), the current language marked.
func languageOptions(ctx context.Context) []languageOption {
	current := i18n.From(ctx).Lang()
	u, _ := ctx.Value(pageURLKey{}).(*url.URL)
	out := make([]languageOption, 0, len(languageNames))
	for _, l := range languageNames {
		o := languageOption{Lang: l.Lang, Name: l.Name, Current: l.Lang == current, URL: "?lang=" + l.Lang}
		if u != nil && u.RawQuery == "" {
			// The usual page address, with no query: nothing to parse and keep.
			o.URL = u.Path + "?lang=" + l.Lang
		} else if u != nil {
			q := u.Query()
			q.Set("lang", l.Lang)
			q.Del("msg") // a notice belongs to the redirect that asked for it
			o.URL = u.Path + "?" + q.Encode()
		}
		out = append(out, o)
	}
	return out
}

// tooManyWait answers a request over limiter's limit for key with its Retry-After, and returns
// the wait in whole seconds, for the page to say in its language.
func tooManyWait(w http.ResponseWriter, limiter *ratelimit.Limiter, key string) time.Duration {
	secs := ratelimit.Seconds(limiter.RetryAfter(key))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return time.Duration(secs) * time.Second
}
