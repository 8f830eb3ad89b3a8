// Package i18n translates what customers read — the public booking pages and the mail about
// their bookings — into the languages Reserva offers, and formats dates, times, durations and
// prices the way each of them writes them.
//
// Messages live in TOML catalogs (locales/*.toml, embedded) read by go-i18n, which also knows
// each language's plural rules; golang.org/x/text matches a visitor's Accept-Language against
// the offered languages and formats numbers. The catalogs are loaded once, when the program
// starts, and never change afterwards: a Localizer is safe for concurrent use.
package i18n

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed locales/*.toml
var catalogs embed.FS

// Supported are the languages Reserva speaks, the first being the fallback.
var Supported = []language.Tag{language.English, language.Spanish, language.German, language.French}

// maxTagLen bounds the language tags Match reads (BCP 47 tags in use are far shorter).
const maxTagLen = 64

// Default is the language of a business whose setting names none Reserva speaks.
const Default = "en"

// The bundle and one Localizer per language, built when the program starts and read-only after.
var (
	bundle     = mustLoad()
	matcher    = language.NewMatcher(Supported)
	localizers = func() map[string]*Localizer {
		m := make(map[string]*Localizer, len(Supported))
		for _, tag := range Supported {
			m[tag.String()] = &Localizer{tag: tag, loc: goi18n.NewLocalizer(bundle, tag.String()), printer: message.NewPrinter(tag)}
		}
		return m
	}()
)

// mustLoad reads the embedded catalogs. They are part of the binary: a catalog that does not
// parse is a build defect, which the package's tests catch, not a condition to handle.
func mustLoad() *goi18n.Bundle {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(catalogs, "locales/*.toml")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		if _, err := b.LoadMessageFileFS(catalogs, f); err != nil {
			panic(fmt.Sprintf("i18n: load %s: %v", f, err))
		}
	}
	return b
}

// Catalog returns the message ids and texts (plural forms joined by " | ") of language lang's
// catalog, for tests that check every catalog is complete.
func Catalog(lang string) (map[string]string, error) {
	raw, err := fs.ReadFile(catalogs, path.Join("locales", lang+".toml"))
	if err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", lang, err)
	}
	var entries map[string]any
	if err := toml.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("parse catalog %s: %w", lang, err)
	}
	out := make(map[string]string, len(entries))
	for id, v := range entries {
		switch v := v.(type) {
		case string:
			out[id] = v
		case map[string]any:
			var forms []string
			for _, k := range []string{"zero", "one", "two", "few", "many", "other"} {
				if s, ok := v[k].(string); ok {
					forms = append(forms, s)
				}
			}
			out[id] = strings.Join(forms, " | ")
		}
	}
	return out, nil
}

// Localizer speaks one language.
type Localizer struct {
	tag     language.Tag
	loc     *goi18n.Localizer
	printer *message.Printer

	// memo keeps texts that depend on nothing but what they are asked for (a message without
	// data, a price, a length): a page shows the same ones on every view, and go-i18n executes
	// a template for each, x/text formats each number anew. At most maxMemo are kept.
	mu   sync.RWMutex
	memo map[memoKey]string
}

// memoKey is one kept text: a message id (kind 't'), a length (kind 'd', n in nanoseconds) or
// a price (kind 'm', n hundredths of s, the currency).
type memoKey struct {
	kind byte
	s    string
	n    int64
}

// maxMemo bounds the texts kept per language: prices and message ids are a business's few,
// but a flood of different prices must not grow memory without end.
const maxMemo = 4096

// memoized returns the text kept under k, else the one build makes, kept while there is room.
func (l *Localizer) memoized(k memoKey, build func() string) string {
	l.mu.RLock()
	s, ok := l.memo[k]
	l.mu.RUnlock()
	if ok {
		return s
	}
	s = build()
	l.mu.Lock()
	if len(l.memo) < maxMemo {
		if l.memo == nil {
			l.memo = map[memoKey]string{}
		}
		l.memo[k] = s
	}
	l.mu.Unlock()
	return s
}

// For returns the Localizer of lang, a language tag ("es", "de-AT", "fr-CH"): the supported
// language it matches, or English.
func For(lang string) *Localizer {
	return localizers[Match(lang)]
}

// Match returns the supported language ("en", "es", "de", "fr") that tag lang names, or ""
// when it names none of them (or is not a language tag).
func Match(lang string) string {
	// A tag is a few characters; anything long (a crafted ?lang= or cookie) is not parsed.
	if lang == "" || len(lang) > maxTagLen {
		return ""
	}
	tag, err := language.Parse(strings.TrimSpace(lang))
	if err != nil {
		return ""
	}
	base, _ := tag.Base()
	for _, s := range Supported {
		if b, _ := s.Base(); b == base {
			return s.String()
		}
	}
	return ""
}

// Negotiate picks a visitor's language: an explicit choice (a lang= parameter or cookie) when
// it is one Reserva speaks, else the language of Accept-Language that the visitor prefers among
// those it speaks, else the business's setting, else English.
func Negotiate(explicit, acceptLanguage, business string) string {
	if l := Match(explicit); l != "" {
		return l
	}
	// Bounded: a header of a few kilobytes of tags is not worth parsing.
	if acceptLanguage != "" && len(acceptLanguage) <= 1024 {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
			if _, i, conf := matcher.Match(tags...); conf >= language.High {
				return Supported[i].String()
			}
		}
	}
	if l := Match(business); l != "" {
		return l
	}
	return Default
}

// Lang is the localizer's language ("en", "es", "de", "fr"), for <html lang>.
func (l *Localizer) Lang() string { return l.tag.String() }

// T returns message id with data filled in. A message missing from this language's catalog
// falls back to English (the catalog test keeps that from happening), and an id missing from
// every catalog shows as itself, so a mistake is visible on the page rather than a blank.
func (l *Localizer) T(id string, data ...map[string]any) string {
	if len(data) == 0 {
		return l.memoized(memoKey{kind: 't', s: id}, func() string { return l.localize(&goi18n.LocalizeConfig{MessageID: id}) })
	}
	return l.localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data[0]})
}

// N returns message id in the plural form for count (each language's CLDR rule), with
// {{.Count}} and data filled in.
func (l *Localizer) N(id string, count int, data ...map[string]any) string {
	td := map[string]any{"Count": count}
	if len(data) > 0 {
		for k, v := range data[0] {
			td[k] = v
		}
	}
	return l.localize(&goi18n.LocalizeConfig{MessageID: id, PluralCount: count, TemplateData: td})
}

func (l *Localizer) localize(cfg *goi18n.LocalizeConfig) string {
	s, err := l.loc.Localize(cfg)
	if err == nil {
		return s
	}
	if s, err := localizers[Default].loc.Localize(cfg); err == nil {
		return s
	}
	return cfg.MessageID
}

type ctxKey struct{}

// WithLocalizer returns ctx carrying l, for the templates and handlers below it.
func WithLocalizer(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// From returns the Localizer in ctx, or English's when there is none.
func From(ctx context.Context) *Localizer {
	if l, ok := ctx.Value(ctxKey{}).(*Localizer); ok && l != nil {
		return l
	}
	return localizers[Default]
}
