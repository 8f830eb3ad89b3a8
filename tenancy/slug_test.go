package tenancy_test

import (
	"strings"
	"testing"

	"github.com/reserva/reserva/tenancy"
)

func TestValidateSlug(t *testing.T) {
	ok := []string{"acme", "abc", "a-b", "studio-42", "0ne", strings.Repeat("a", 63)}
	for _, s := range ok {
		if err := tenancy.ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q) = %v, want ok", s, err)
		}
	}
	bad := []struct{ slug, rule string }{
		{"", "too short"},
		{"ab", "too short"},
		{strings.Repeat("a", 64), "too long"},
		{"Acme", "uppercase"},
		{"ACME", "uppercase"},
		{"../x", `has '.'`},
		{"..", "too short"},
		{"a/b/c", `has '/'`},
		{`a\bc`, `has '\\'`},
		{"acme.db", `has '.'`},
		{"café", `has 'é'`},
		{"ac me", `has ' '`},
		{"a%2fb", `has '%'`},
		{"-acme", "starts or ends with a dash"},
		{"acme-", "starts or ends with a dash"},
		{"ac--me", "two dashes"},
		{"admin", "reserved"},
		{"graphql", "reserved"},
		{"signup", "reserved"},
		{"healthz", "reserved"},
		{"static", "reserved"},
		{"www", "reserved"},
	}
	for _, c := range bad {
		err := tenancy.ValidateSlug(c.slug)
		if err == nil {
			t.Errorf("ValidateSlug(%q) = nil, want error about %q", c.slug, c.rule)
			continue
		}
		if !strings.Contains(err.Error(), c.rule) {
			t.Errorf("ValidateSlug(%q) = %q, want it to say %q", c.slug, err, c.rule)
		}
	}
}
