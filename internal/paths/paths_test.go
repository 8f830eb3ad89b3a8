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
		{paths.Site("acme", paths.Book("3")), "/acme/book/3"},
		{paths.Pattern("POST", paths.GraphQL), "POST /{slug}/graphql"},
		{paths.Pattern("GET", paths.Manage("{token}")), "GET /{slug}/booking/{token}"},
		{paths.URL("https://book.example/", "acme", paths.Manage("T0K")), "https://book.example/acme/booking/T0K"},
		{paths.URL("https://book.example", "acme", paths.Manage("T0K")), "https://book.example/acme/booking/T0K"},
		{paths.AdminPattern("POST", paths.AccountPassword), "POST /{slug}/admin/account/password"},
		{paths.Admin("acme", paths.AccountName), "/acme/admin/account/name"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
