package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
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

// tooManyWait answers a request over limiter's limit for key with its Retry-After, and returns
// the wait in whole seconds, for the page to say in its language.
func tooManyWait(w http.ResponseWriter, limiter *ratelimit.Limiter, key string) time.Duration {
	secs := ratelimit.Seconds(limiter.RetryAfter(key))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return time.Duration(secs) * time.Second
}

// languages lets a visitor choose among the languages Reserva speaks: links to the page they
// are on with ?lang=, each named in its own language. It is written by hand, not in templ:
// templ formats every expression through fmt.Sprint, and the switcher's two dozen of them
// were the most allocations of any part of a public page. The markup is what the templ
// version made (TestLanguageSwitcherMarkup).
func languages() templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		sw := stickyWriter{w: w}
		sw.str(`<nav class="languages" aria-label="`)
		sw.esc(tr(ctx, "site.language"))
		sw.str(`" data-testid="languages">`)
		current := i18n.From(ctx).Lang()
		u, _ := ctx.Value(pageURLKey{}).(*url.URL)
		for _, o := range languageNames {
			if o.Lang == current {
				sw.str(`<strong lang="`)
				sw.esc(o.Lang)
				sw.str(`" aria-current="true">`)
				sw.esc(o.Name)
				sw.str(`</strong>`)
			} else {
				sw.str(`<a href="`)
				switch {
				case u == nil:
					sw.str("?lang=")
					sw.esc(o.Lang)
				case u.RawQuery == "":
					// The usual page address, with no query: nothing to parse and keep.
					sw.esc(u.Path)
					sw.str("?lang=")
					sw.esc(o.Lang)
				default:
					q := u.Query()
					q.Set("lang", o.Lang)
					q.Del("msg") // a notice belongs to the redirect that asked for it
					sw.esc(u.Path + "?" + q.Encode())
				}
				sw.str(`" lang="`)
				sw.esc(o.Lang)
				sw.str(`" hreflang="`)
				sw.esc(o.Lang)
				sw.str(`" data-testid="lang-`)
				sw.esc(o.Lang)
				sw.str(`">`)
				sw.esc(o.Name)
				sw.str(`</a>`)
			}
			sw.str("  ")
		}
		sw.str(`</nav>`)
		return sw.err
	})
}

// stickyWriter writes strings to w until the first error, which it keeps.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) str(v string) {
	if s.err == nil {
		_, s.err = io.WriteString(s.w, v)
	}
}

// esc writes v escaped for HTML text and quoted attribute values, as templ does.
func (s *stickyWriter) esc(v string) { s.str(templ.EscapeString(v)) }
