package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reserva/reserva/internal/paths"
)

// Every dashboard path that internal/paths builds, with real ids, is served by the route built
// from the same builder with wildcards; and every dashboard route is one of those. So the links
// of the templates, view models and redirects cannot drift from the routes, and renaming a
// dashboard route is one edit in internal/paths.
func TestDashboardPathsHaveRoutes(t *testing.T) {
	mux, registered := (&Server{}).routes()
	cases := []struct {
		method, rel, pattern string
	}{
		{"GET", paths.AdminHome, paths.AdminPattern("GET", paths.AdminHome)},
		{"GET", "/", paths.AdminPattern("GET", "/{$}")},
		{"GET", paths.AdminLogin + "?msg=out", paths.AdminPattern("GET", paths.AdminLogin)},
		{"POST", paths.AdminLogin, paths.AdminPattern("POST", paths.AdminLogin)},
		{"POST", paths.AdminLogout, paths.AdminPattern("POST", paths.AdminLogout)},
		{"GET", paths.AdminForgot, paths.AdminPattern("GET", paths.AdminForgot)},
		{"POST", paths.AdminForgot, paths.AdminPattern("POST", paths.AdminForgot)},
		{"GET", paths.AdminGraphiQL, paths.AdminPattern("GET", paths.AdminGraphiQL)},
		{"GET", paths.AdminGraphiQLAsset("graphiql.js"), paths.AdminPattern("GET", paths.AdminGraphiQLAsset("{name}"))},
		{"GET", paths.AdminCalendar + "?date=2026-12-03", paths.AdminPattern("GET", paths.AdminCalendar)},
		{"GET", paths.AdminNewBooking, paths.AdminPattern("GET", paths.AdminNewBooking)},
		{"POST", paths.AdminBookings, paths.AdminPattern("POST", paths.AdminBookings)},
		{"GET", paths.AdminBooking(int64(7)), paths.AdminPattern("GET", paths.AdminBooking("{id}"))},
		{"POST", paths.AdminBookingAction(int64(7), "move"), paths.AdminPattern("POST", paths.AdminBookingAction("{id}", "move"))},
		{"POST", paths.AdminBookingAction(int64(7), "cancel"), paths.AdminPattern("POST", paths.AdminBookingAction("{id}", "{action}"))},
		{"GET", paths.AdminCustomers, paths.AdminPattern("GET", paths.AdminCustomers)},
		{"GET", paths.AdminCustomer(int64(3)), paths.AdminPattern("GET", paths.AdminCustomer("{id}"))},
		{"POST", paths.AdminCustomerNotes(int64(3)), paths.AdminPattern("POST", paths.AdminCustomerNotes("{id}"))},
		{"POST", paths.AdminCustomerAnonymise(int64(3)), paths.AdminPattern("POST", paths.AdminCustomerAnonymise("{id}"))},
		{"GET", paths.AdminAccount, paths.AdminPattern("GET", paths.AdminAccount)},
		{"POST", paths.AdminSignOutEverywhere, paths.AdminPattern("POST", paths.AdminSignOutEverywhere)},
		{"POST", paths.AdminAccountName, paths.AdminPattern("POST", paths.AdminAccountName)},
		{"POST", paths.AdminAccountPassword, paths.AdminPattern("POST", paths.AdminAccountPassword)},
		{"POST", paths.AdminAccountNotify, paths.AdminPattern("POST", paths.AdminAccountNotify)},
		{"GET", paths.AdminServices, paths.AdminPattern("GET", paths.AdminServices)},
		{"POST", paths.AdminServices, paths.AdminPattern("POST", paths.AdminServices)},
		{"GET", paths.AdminService(int64(2)), paths.AdminPattern("GET", paths.AdminService("{id}"))},
		{"POST", paths.AdminService(int64(2)), paths.AdminPattern("POST", paths.AdminService("{id}"))},
		{"GET", paths.AdminStaffList, paths.AdminPattern("GET", paths.AdminStaffList)},
		{"POST", paths.AdminStaffList, paths.AdminPattern("POST", paths.AdminStaffList)},
		{"GET", paths.AdminStaff(int64(4)), paths.AdminPattern("GET", paths.AdminStaff("{id}"))},
		{"POST", paths.AdminStaff(int64(4)), paths.AdminPattern("POST", paths.AdminStaff("{id}"))},
		{"POST", paths.AdminStaffOverrides(int64(4)), paths.AdminPattern("POST", paths.AdminStaffOverrides("{id}"))},
		{"POST", paths.AdminStaffOverrideDelete(int64(4), "2026-12-24"), paths.AdminPattern("POST", paths.AdminStaffOverrideDelete("{id}", "{date}"))},
		{"POST", paths.AdminStaffTimeOff(int64(4)), paths.AdminPattern("POST", paths.AdminStaffTimeOff("{id}"))},
		{"POST", paths.AdminStaffTimeOffDelete(int64(4), int64(9)), paths.AdminPattern("POST", paths.AdminStaffTimeOffDelete("{id}", "{tid}"))},
		{"GET", paths.AdminResources, paths.AdminPattern("GET", paths.AdminResources)},
		{"POST", paths.AdminResources, paths.AdminPattern("POST", paths.AdminResources)},
		{"GET", paths.AdminSettings, paths.AdminPattern("GET", paths.AdminSettings)},
		{"POST", paths.AdminSettings, paths.AdminPattern("POST", paths.AdminSettings)},
		{"POST", paths.AdminBranding, paths.AdminPattern("POST", paths.AdminBranding)},
		{"POST", paths.AdminTimezone, paths.AdminPattern("POST", paths.AdminTimezone)},
		{"GET", paths.AdminUsers, paths.AdminPattern("GET", paths.AdminUsers)},
		{"POST", paths.AdminUsers, paths.AdminPattern("POST", paths.AdminUsers)},
		{"POST", paths.AdminUserRole(int64(5)), paths.AdminPattern("POST", paths.AdminUserRole("{id}"))},
		{"POST", paths.AdminUserRemove(int64(5)), paths.AdminPattern("POST", paths.AdminUserRemove("{id}"))},
		{"GET", paths.AdminTokens, paths.AdminPattern("GET", paths.AdminTokens)},
		{"POST", paths.AdminTokens, paths.AdminPattern("POST", paths.AdminTokens)},
		{"POST", paths.AdminTokenRevoke(int64(6)), paths.AdminPattern("POST", paths.AdminTokenRevoke("{id}"))},
		{"GET", paths.AdminExport, paths.AdminPattern("GET", paths.AdminExport)},
		{"POST", paths.AdminDelete, paths.AdminPattern("POST", paths.AdminDelete)},
	}
	// The mailed password reset link lives below the dashboard but is built like the site's.
	reset := paths.Site("acme", paths.PasswordReset("S3C"))
	for _, method := range []string{"GET", "POST"} {
		cases = append(cases, struct{ method, rel, pattern string }{method, strings.TrimPrefix(reset, paths.Admin("acme", "")),
			paths.Pattern(method, paths.PasswordReset("{token}"))})
	}
	// So does the mailed invitation link.
	invite := paths.Site("acme", paths.Invitation("7.S3C"))
	for _, method := range []string{"GET", "POST"} {
		cases = append(cases, struct{ method, rel, pattern string }{method, strings.TrimPrefix(invite, paths.Admin("acme", "")),
			paths.Pattern(method, paths.Invitation("{token}"))})
	}
	built := map[string]bool{}
	for _, c := range cases {
		built[c.pattern] = true
		r := httptest.NewRequest(c.method, paths.Admin("acme", c.rel), nil)
		if _, got := mux.Handler(r); got != c.pattern {
			t.Errorf("%s %s is served by %q, want %q", c.method, r.URL, got, c.pattern)
		}
	}
	for _, p := range registered {
		if strings.Contains(p, " /{slug}/admin") && !built[p] {
			t.Errorf("dashboard route %q is not built from an internal/paths builder checked here", p)
		}
	}
}
