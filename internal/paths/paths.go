// Package paths builds every URL of a business's site: the routes that serve them (web), the
// pages that link to them (templates) and the mails that carry them (domain's outbox, jobs'
// delivery). One builder per address means renaming a route renames its links, mailed ones too.
//
// It imports nothing of ours, so every layer may use it without bending the import direction
// (web, graph, jobs -> domain): domain needs the site-relative links it stores in the outbox,
// and a helper in web would be out of its reach.
package paths

import (
	"fmt"
	"strings"
)

// Links below a business's site are relative ("booking/<token>"): the outbox stores them so,
// and a business's site may move (another base URL) after a message is queued. Site, Admin and
// URL make them absolute.

// Manage is a booking's manage page (see, change, cancel), found by its manage token.
func Manage(token string) string { return "booking/" + token }

// ManageAction is a page or action of a booking's manage page: "booking.ics", "cancel",
// "reschedule", "reschedule/slots".
func ManageAction(token, action string) string { return Manage(token) + "/" + action }

// Book is the first step of booking a service (its days), by the service's id.
func Book(serviceID string) string { return "book/" + serviceID }

// Logo is the business's logo; GraphQL its API.
const (
	Logo    = "logo"
	GraphQL = "graphql"
)

// PasswordReset is the page where a dashboard user sets a new password with a reset secret.
func PasswordReset(secret string) string { return "admin/reset/" + secret }

// AdminMail is the link a mail carries to the dashboard page rel (an Admin… constant or
// builder): below the site, like every mailed link.
func AdminMail(rel string) string { return "admin" + rel }

// Invitation is the page where an invited dashboard user chooses their password with the token
// of their invitation.
func Invitation(token string) string { return "admin/invite/" + token }

// Site is the absolute path of rel below the site of the business slug ("" for its home page).
func Site(slug, rel string) string { return "/" + slug + "/" + rel }

// Admin is the absolute path of a dashboard page: rel is "" for its home or starts with a
// slash ("/bookings/7").
func Admin(slug, rel string) string { return "/" + slug + "/admin" + rel }

// URL is the link a mail carries: rel below the site of slug, on the platform at base.
func URL(base, slug, rel string) string { return strings.TrimSuffix(base, "/") + Site(slug, rel) }

// Pattern is the http.ServeMux pattern that serves the links built with rel, for method:
// rel is built with the builders above with wildcards as arguments (Manage("{token}")).
func Pattern(method, rel string) string { return method + " " + Site("{slug}", rel) }

// AdminPattern is the http.ServeMux pattern that serves the dashboard pages built with rel, for
// method: rel is built with the Admin… builders below with wildcards as arguments
// (AdminBooking("{id}")).
func AdminPattern(method, rel string) string { return method + " " + Admin("{slug}", rel) }

// The dashboard's pages and actions, relative to a business's dashboard: Admin makes them
// absolute, AdminPattern makes the routes that serve them, and the dashboard's redirects
// (Server.done) and view models take them as they are.
const (
	AdminHome              = ""
	AdminLogin             = "/login"
	AdminLogout            = "/logout"
	AdminForgot            = "/forgot"
	AdminGraphiQL          = "/graphql"
	AdminCalendar          = "/calendar"
	AdminBookings          = "/bookings" // POST: a booking made from the dashboard
	AdminNewBooking        = "/bookings/new"
	AdminCustomers         = "/customers"
	AdminAccount           = "/account"
	AdminAccountName       = "/account/name"     // the user's own name
	AdminAccountPassword   = "/account/password" // the user's own password
	AdminAccountNotify     = "/account/notify"   // whether the owner is mailed about bookings
	AdminSignOutEverywhere = "/signout-everywhere"
	AdminServices          = "/services"
	AdminStaffList         = "/staff"
	AdminResources         = "/resources"
	AdminSettings          = "/settings"
	AdminBranding          = "/settings/branding"
	AdminTimezone          = "/settings/timezone"
	AdminUsers             = "/users"
	AdminTokens            = "/tokens"
	AdminExport            = "/export.zip"
	AdminDelete            = "/delete" // the whole business
)

// ID is what the dashboard's builders take for an id: a row's id, or a route's wildcard
// ("{id}").
type ID interface{ ~int64 | ~string }

func seg[T ID](id T) string { return fmt.Sprint(id) }

// AdminGraphiQLAsset is a file of the GraphiQL page ("" for their directory).
func AdminGraphiQLAsset(name string) string { return AdminGraphiQL + "/assets/" + name }

// AdminBooking is a booking's dashboard page.
func AdminBooking[T ID](id T) string { return AdminBookings + "/" + seg(id) }

// AdminBookingAction is an action on a booking from the dashboard: "move", "confirm",
// "complete", "no-show", "reopen", "cancel".
func AdminBookingAction[T ID](id T, action string) string { return AdminBooking(id) + "/" + action }

// AdminCalendarBooking is the calendar's day of date (YYYY-MM-DD) with booking id open in its
// side panel.
func AdminCalendarBooking[T ID](date string, id T) string {
	return AdminCalendar + "?date=" + date + "&booking=" + seg(id)
}

// AdminCustomer is a customer's page.
func AdminCustomer[T ID](id T) string { return AdminCustomers + "/" + seg(id) }

// AdminCustomerNotes saves a customer's notes.
func AdminCustomerNotes[T ID](id T) string { return AdminCustomer(id) + "/notes" }

// AdminCustomerAnonymise erases a customer's personal data.
func AdminCustomerAnonymise[T ID](id T) string { return AdminCustomer(id) + "/anonymise" }

// AdminService is a service's page.
func AdminService[T ID](id T) string { return AdminServices + "/" + seg(id) }

// AdminStaff is a staff member's page (working hours, overrides, time off).
func AdminStaff[T ID](id T) string { return AdminStaffList + "/" + seg(id) }

// AdminStaffOverrides adds a staff member's different hours on one date.
func AdminStaffOverrides[T ID](id T) string { return AdminStaff(id) + "/overrides" }

// AdminStaffOverrideDelete removes a staff member's override on date (YYYY-MM-DD).
func AdminStaffOverrideDelete[T ID](id T, date string) string {
	return AdminStaffOverrides(id) + "/" + date + "/delete"
}

// AdminStaffTimeOff adds time off for a staff member.
func AdminStaffTimeOff[T ID](id T) string { return AdminStaff(id) + "/timeoff" }

// AdminStaffTimeOffDelete removes a staff member's time off tid.
func AdminStaffTimeOffDelete[T, U ID](id T, tid U) string {
	return AdminStaffTimeOff(id) + "/" + seg(tid) + "/delete"
}

// AdminUserRole changes a dashboard user's role.
func AdminUserRole[T ID](id T) string { return AdminUsers + "/" + seg(id) + "/role" }

// AdminUserRemove removes a dashboard user.
func AdminUserRemove[T ID](id T) string { return AdminUsers + "/" + seg(id) + "/remove" }

// AdminTokenRevoke revokes an API token.
func AdminTokenRevoke[T ID](id T) string { return AdminTokens + "/" + seg(id) + "/revoke" }
