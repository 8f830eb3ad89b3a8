package domain_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
)

// The business's address and phone are limited in characters, as their messages say, not in
// bytes: an address in Japanese at the limit is accepted, one character more is refused with
// the limit in the message.
func TestSettingsTextLimits(t *testing.T) {
	base := domain.Settings{Currency: "JPY", Locale: "ja", SlotStep: 15 * time.Minute, Horizon: 24 * time.Hour}
	for _, tc := range []struct {
		name, field string
		set         func(*domain.Settings, string)
		limit       int
	}{
		{"Address", "address", func(s *domain.Settings, v string) { s.Address = v }, domain.MaxAddressLen},
		{"ContactPhone", "contactPhone", func(s *domain.Settings, v string) { s.ContactPhone = v }, domain.MaxPhoneLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.set(&st, strings.Repeat("東", tc.limit))
			if err := st.Validate(); err != nil {
				t.Errorf("%d characters (%d bytes) refused: %v", tc.limit, 3*tc.limit, err)
			}
			tc.set(&st, strings.Repeat("東", tc.limit+1))
			err := st.Validate()
			if domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(domain.ErrorMessage(err), fmt.Sprintf("at most %d characters", tc.limit)) {
				t.Errorf("%d characters: %v, want EINVALID saying at most %d characters", tc.limit+1, err, tc.limit)
			}
		})
	}
}
