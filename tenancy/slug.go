package tenancy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Slug limits. A slug is the first segment of a tenant's URLs (/{slug}/admin).
const (
	MinSlugLen = 3
	MaxSlugLen = 63
)

// reservedSlugs are first path segments that belong to the platform, or names that would confuse
// customers if a business could take them.
var reservedSlugs = map[string]bool{
	"about": true, "account": true, "admin": true, "api": true, "app": true, "assets": true,
	"auth": true, "billing": true, "blog": true, "book": true, "booking": true, "dashboard": true,
	"debug": true, "docs": true, "favicon.ico": true, "graphql": true, "healthz": true, "help": true,
	"login": true, "logout": true, "mail": true, "metrics": true, "new": true, "pricing": true,
	"privacy": true, "readyz": true, "register": true, "reserva": true, "robots.txt": true,
	"root": true, "security": true, "settings": true, "signin": true, "signup": true, "static": true,
	"status": true, "support": true, "system": true, "terms": true, "www": true,
}

// IsReservedSlug reports whether s is a platform path segment that no tenant can have.
func IsReservedSlug(s string) bool { return reservedSlugs[s] }

// ValidateSlug checks s against the slug rules and says which rule a bad slug breaks. A valid slug
// can never be a file path: it has no dot, slash or backslash.
func ValidateSlug(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case n < MinSlugLen:
		return fmt.Errorf("slug %q is too short: use %d to %d characters", s, MinSlugLen, MaxSlugLen)
	case n > MaxSlugLen:
		return fmt.Errorf("slug is too long (%d characters): use %d to %d characters", n, MinSlugLen, MaxSlugLen)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		case r >= 'A' && r <= 'Z':
			return fmt.Errorf("slug %q has an uppercase letter: use lowercase (%q)", s, strings.ToLower(s))
		default:
			return fmt.Errorf("slug %q has %q: use only lowercase letters a-z, digits and dashes", s, r)
		}
	}
	switch {
	case s[0] == '-' || s[len(s)-1] == '-':
		return fmt.Errorf("slug %q starts or ends with a dash", s)
	case strings.Contains(s, "--"):
		return fmt.Errorf("slug %q has two dashes in a row", s)
	case reservedSlugs[s]:
		return fmt.Errorf("slug %q is reserved: choose another", s)
	}
	return nil
}
