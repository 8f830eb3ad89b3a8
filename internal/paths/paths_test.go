package paths_test

import (
	"testing"

	"github.com/reserva/reserva/internal/paths"
)

// Links stored in the outbox before this package existed were "booking/<token>" and
// "admin/reset/<secret>" below the site: the builders must keep making exactly those, and the
// routes and mailed URLs built on them must keep their shape.
func TestPaths(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{paths.Manage("T0K"), "booking/T0K"},
		{paths.PasswordReset("S3C"), "admin/reset/S3C"},
		{paths.Site("acme", paths.ManageAction("T0K", "cancel")), "/acme/booking/T0K/cancel"},
		{paths.Admin("acme", "/bookings/7"), "/acme/admin/bookings/7"},
		{paths.Admin("acme", paths.AdminBooking(int64(7))), "/acme/admin/bookings/7"},
		{paths.AdminBookingAction("{id}", "move"), "/bookings/{id}/move"},
		{paths.AdminStaffTimeOffDelete(int64(4), int64(9)), "/staff/4/timeoff/9/delete"},
		{paths.AdminStaffOverrideDelete(int64(4), "2026-12-24"), "/staff/4/overrides/2026-12-24/delete"},
		{paths.AdminPattern("POST", paths.AdminTokenRevoke("{id}")), "POST /{slug}/admin/tokens/{id}/revoke"},
		{paths.Admin("acme", paths.AdminHome), "/acme/admin"},
		{paths.Site("acme", paths.Book("3")), "/acme/book/3"},
		{paths.Pattern("POST", paths.GraphQL), "POST /{slug}/graphql"},
		{paths.Pattern("GET", paths.Manage("{token}")), "GET /{slug}/booking/{token}"},
		{paths.URL("https://book.example/", "acme", paths.Manage("T0K")), "https://book.example/acme/booking/T0K"},
		{paths.URL("https://book.example", "acme", paths.Manage("T0K")), "https://book.example/acme/booking/T0K"},
		{paths.AdminPattern("POST", paths.AdminAccountPassword), "POST /{slug}/admin/account/password"},
		{paths.Admin("acme", paths.AdminAccountName), "/acme/admin/account/name"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
