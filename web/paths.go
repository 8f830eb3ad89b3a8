package web

import "github.com/reserva/reserva/internal/paths"

// The templates build their links with these, which only name the builders of internal/paths
// (the dashboard's templates also call its Admin… builders directly): the routes
// (Server.routes) and the mails use the same builders.

func adminPath(slug, rel string) string { return paths.Admin(slug, rel) }

func resetPath(slug, secret string) string { return paths.Site(slug, paths.PasswordReset(secret)) }

func manageActionPath(slug, token, action string) string {
	return paths.Site(slug, paths.ManageAction(token, action))
}

func managePath(slug, token string) string { return paths.Site(slug, paths.Manage(token)) }
