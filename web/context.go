package web

import (
	"net/http"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// leaseOf returns the lease of the request's tenant. Every route under /{slug}/ runs below the
// tenant middleware, which always sets one: a request without it is a wiring mistake (a route
// registered outside that middleware), so it panics with a message that says so, rather than
// with a nil dereference lines later. recoverPanics logs it and answers 500.
func leaseOf(r *http.Request) *tenancy.Lease {
	l, ok := tenancy.FromContext(r.Context())
	if !ok {
		panic("web: no tenant in the request context (route registered outside the tenant middleware): " + r.URL.Path)
	}
	return l
}

// viewerOf returns the signed-in user of the request. Only handlers behind requireUser (or
// requireOwner) may call it; like leaseOf it panics on a wiring mistake instead of treating the
// request as an anonymous user with no name and no role.
func viewerOf(r *http.Request) domain.Viewer {
	v, ok := domain.ViewerFrom(r.Context())
	if !ok {
		panic("web: no signed-in user in the request context (route registered without requireUser): " + r.URL.Path)
	}
	return v
}
