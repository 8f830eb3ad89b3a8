package tenancy_test

import (
	"strings"
	"testing"

	"github.com/reserva/reserva/tenancy"
)

// A slug the rules accept can only be lowercase letters, digits and single inner dashes: it can
// never name a path, and validating never panics.
func FuzzValidateSlug(f *testing.F) {
	for _, s := range []string{"acme", "zen-yoga", "../etc", "a/b", "ACME", "signup", "a--b", "-ab", "ñandú", "a\x00b", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tenancy.ValidateSlug(s) != nil {
			return
		}
		if len(s) < tenancy.MinSlugLen || len(s) > tenancy.MaxSlugLen || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" ||
			strings.Contains(s, "--") || s[0] == '-' || s[len(s)-1] == '-' || tenancy.IsReservedSlug(s) {
			t.Fatalf("ValidateSlug accepted %q", s)
		}
	})
}
