// Package paths builds every URL of a business's site: the routes that serve them (web), the
// pages that link to them (templates) and the mails that carry them (domain's outbox, jobs'
// delivery). One builder per address means renaming a route renames its links, mailed ones too.
//
// It imports nothing of ours, so every layer may use it without bending the import direction
// (web, graph, jobs -> domain): domain needs the site-relative links it stores in the outbox,
// and a helper in web would be out of its reach.
package paths

import "strings"

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

// A dashboard user's own account: their name and their password (below Admin).
const (
	AccountName     = "/account/name"
	AccountPassword = "/account/password"
)

// AdminPattern is the http.ServeMux pattern that serves the dashboard page rel (as given to
// Admin), for method.
func AdminPattern(method, rel string) string { return method + " " + Admin("{slug}", rel) }
