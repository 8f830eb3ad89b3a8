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
	cfg := &goi18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		cfg.TemplateData = data[0]
	}
	return l.localize(cfg)
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
