package i18n_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/i18n"
)

var langs = []string{"en", "es", "de", "fr"}

// Every message of the English catalog is in the others, with the same template fields (a
// translation that drops {{.Link}} would lose the manage link), and no catalog has a message
// English lacks.
func TestCatalogsComplete(t *testing.T) {
	en, err := i18n.Catalog("en")
	if err != nil {
		t.Fatal(err)
	}
	fields := regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)
	names := func(s string) []string {
		var out []string
		for _, m := range fields.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, lang := range langs[1:] {
		cat, err := i18n.Catalog(lang)
		if err != nil {
			t.Fatal(err)
		}
		for id, text := range en {
			tr, ok := cat[id]
			switch {
			case !ok:
				t.Errorf("%s: %q missing", lang, id)
			case !slices.Equal(names(tr), names(text)):
				t.Errorf("%s: %q has fields %v, English %v", lang, id, names(tr), names(text))
			}
		}
		for id := range cat {
			if _, ok := en[id]; !ok {
				t.Errorf("%s: %q is not in the English catalog", lang, id)
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct{ explicit, accept, business, want string }{
		{"", "", "es-ES", "es"},
		{"", "", "", "en"},
		{"", "", "ja", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.5", "es", "de"},
		{"", "ja,zh;q=0.8", "fr", "fr"},    // none of ours: the business's
		{"", "ja,fr-CA;q=0.5", "es", "fr"}, // ours, even if not first
		{"fr", "de", "es", "fr"},           // an explicit choice wins
		{"xx-not-a-tag!", "de", "es", "de"},
		{"", "en-US,en;q=0.9", "de", "en"},
		{"es-" + strings.Repeat("x", 100), "", "de", "de"}, // too long to be a tag: not read
	} {
		if got := i18n.Negotiate(c.explicit, c.accept, c.business); got != c.want {
			t.Errorf("Negotiate(%q, %q, %q) = %q, want %q", c.explicit, c.accept, c.business, got, c.want)
		}
	}
}

func TestFormats(t *testing.T) {
	at := time.Date(2026, time.March, 2, 9, 5, 0, 0, time.UTC) // a Monday
	for _, c := range []struct {
		lang, long, short, money, span string
	}{
		{"en", "Monday 2 March 2026", "Mon 2 Mar", "€1,234.50", "1 hour 30 minutes"},
		{"es", "lunes, 2 de marzo de 2026", "lun 2 mar", "1.234,50\u00a0€", "1 hora 30 minutos"},
		{"de", "Montag, 2. März 2026", "Mo. 2. März", "1.234,50\u00a0€", "1 Stunde 30 Minuten"},
		{"fr", "lundi 2 mars 2026", "lun. 2 mars", "1\u00a0234,50\u00a0€", "1 heure 30 minutes"},
	} {
		l := i18n.For(c.lang)
		if got := l.LongDate(at); got != c.long {
			t.Errorf("%s LongDate = %q, want %q", c.lang, got, c.long)
		}
		if got := l.ShortDate(at); got != c.short {
			t.Errorf("%s ShortDate = %q, want %q", c.lang, got, c.short)
		}
		if got := l.Money(123450, "EUR"); got != c.money {
			t.Errorf("%s Money = %q, want %q", c.lang, got, c.money)
		}
		if got := l.Span(90 * time.Minute); got != c.span {
			t.Errorf("%s Span = %q, want %q", c.lang, got, c.span)
		}
	}
	// Plurals follow each language's rule: French counts 0 and 1 as one, English only 1.
	if got := i18n.For("fr").Span(0); got != "0 minute" {
		t.Errorf("fr Span(0) = %q", got)
	}
	if got := i18n.For("en").Span(0); got != "0 minutes" {
		t.Errorf("en Span(0) = %q", got)
	}
	if got := i18n.For("de").Span(48 * time.Hour); got != "2 Tage" {
		t.Errorf("de Span(48h) = %q", got)
	}
}

func TestContext(t *testing.T) {
	if got := i18n.From(context.Background()).Lang(); got != "en" {
		t.Errorf("no localizer: %q, want en", got)
	}
	ctx := i18n.WithLocalizer(context.Background(), i18n.For("de-AT"))
	if got := i18n.From(ctx).Lang(); got != "de" {
		t.Errorf("From = %q, want de", got)
	}
	if got := i18n.From(ctx).T("no.such.message"); got != "no.such.message" {
		t.Errorf("a missing message shows as %q, want its id", got)
	}
}

func TestWait(t *testing.T) {
	for _, c := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", 1500 * time.Millisecond, "2 seconds"},
		{"es", 90 * time.Second, "2 minutos"},
		{"de", time.Second, "1 Sekunde"},
		{"fr", 30 * time.Second, "30 secondes"},
	} {
		if got := i18n.For(c.lang).Wait(c.d); got != c.want {
			t.Errorf("%s Wait(%v) = %q, want %q", c.lang, c.d, got, c.want)
		}
	}
}

// A page asks for the same message, price and length on every view: after the first, each is
// answered from what was kept, with no allocation, and the same text; a flood of different
// prices is still formatted right once no more are kept.
func TestFormatsAreKept(t *testing.T) {
	l := i18n.For("es")
	want := []string{l.T("home.book"), l.Money(123450, "EUR"), l.Duration(90 * time.Minute)}
	var got []string
	allocs := testing.AllocsPerRun(100, func() {
		got = []string{l.T("home.book"), l.Money(123450, "EUR"), l.Duration(90 * time.Minute)}
	})
	if allocs > 1 { // the slice holding the three
		t.Errorf("%.0f allocations for three kept texts, want none but their slice", allocs)
	}
	if !slices.Equal(got, want) {
		t.Errorf("kept texts %q, first answers %q", got, want)
	}
	for n := range int64(10000) {
		if got, want := l.Money(n*100, "EUR"), strings.TrimSpace(strconv.FormatInt(n, 10)); !strings.HasPrefix(strings.ReplaceAll(got, ".", ""), want+",00") {
			t.Fatalf("Money(%d) = %q, want %s,00 €", n*100, got, want)
		}
	}
}
