package web

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"github.com/reserva/reserva/internal/i18n"
)

// The hand-written language switcher makes the markup its templ version made, byte for byte:
// the page's own address with ?lang= (its other parameters kept but a notice, escaped), the
// current language marked, each name in its own language. The golden strings are the templ
// version's output.
func TestLanguageSwitcherMarkup(t *testing.T) {
	for _, tc := range []struct {
		lang string
		page *url.URL
		want string
	}{
		{"es", &url.URL{Path: "/acme"}, `<nav class="languages" aria-label="Idioma" data-testid="languages"><a href="/acme?lang=en" lang="en" hreflang="en" data-testid="lang-en">English</a>  <strong lang="es" aria-current="true">Español</strong>  <a href="/acme?lang=de" lang="de" hreflang="de" data-testid="lang-de">Deutsch</a>  <a href="/acme?lang=fr" lang="fr" hreflang="fr" data-testid="lang-fr">Français</a>  </nav>`},
		{"es", &url.URL{Path: "/acme/book/1", RawQuery: "month=2026-01&msg=deleted"}, `<nav class="languages" aria-label="Idioma" data-testid="languages"><a href="/acme/book/1?lang=en&amp;month=2026-01" lang="en" hreflang="en" data-testid="lang-en">English</a>  <strong lang="es" aria-current="true">Español</strong>  <a href="/acme/book/1?lang=de&amp;month=2026-01" lang="de" hreflang="de" data-testid="lang-de">Deutsch</a>  <a href="/acme/book/1?lang=fr&amp;month=2026-01" lang="fr" hreflang="fr" data-testid="lang-fr">Français</a>  </nav>`},
		{"en", &url.URL{Path: `/a"<b>`}, `<nav class="languages" aria-label="Language" data-testid="languages"><strong lang="en" aria-current="true">English</strong>  <a href="/a&#34;&lt;b&gt;?lang=es" lang="es" hreflang="es" data-testid="lang-es">Español</a>  <a href="/a&#34;&lt;b&gt;?lang=de" lang="de" hreflang="de" data-testid="lang-de">Deutsch</a>  <a href="/a&#34;&lt;b&gt;?lang=fr" lang="fr" hreflang="fr" data-testid="lang-fr">Français</a>  </nav>`},
		{"de", nil, `<nav class="languages" aria-label="Sprache" data-testid="languages"><a href="?lang=en" lang="en" hreflang="en" data-testid="lang-en">English</a>  <a href="?lang=es" lang="es" hreflang="es" data-testid="lang-es">Español</a>  <strong lang="de" aria-current="true">Deutsch</strong>  <a href="?lang=fr" lang="fr" hreflang="fr" data-testid="lang-fr">Français</a>  </nav>`},
	} {
		ctx := i18n.WithLocalizer(context.Background(), i18n.For(tc.lang))
		if tc.page != nil {
			ctx = context.WithValue(ctx, pageURLKey{}, tc.page)
		}
		var b bytes.Buffer
		if err := languages().Render(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s %v:\n got %s\nwant %s", tc.lang, tc.page, b.String(), tc.want)
		}
	}
	// And it costs a page no allocations on the usual address (no query).
	ctx := context.WithValue(i18n.WithLocalizer(context.Background(), i18n.For("es")), pageURLKey{}, &url.URL{Path: "/acme"})
	var b bytes.Buffer
	c := languages()
	if n := testing.AllocsPerRun(100, func() { b.Reset(); _ = c.Render(ctx, &b) }); n > 1 {
		t.Errorf("%.0f allocations to render the switcher", n)
	}
}
