// Package turn carries a request's turn of its business's fair share in the request's context.
// The web package's tenant middleware takes the turn; handlers in web and graph (a download, a
// live subscription) give it back early with End. It sits apart so that graph, which web
// imports, can reach it without importing web.
package turn

import "context"

type key struct{}

// With returns ctx carrying end, the function that gives the request's turn back (safe to call
// more than once).
func With(ctx context.Context, end func()) context.Context {
	return context.WithValue(ctx, key{}, end)
}

// End gives back the request's turn of its tenant's fair share before the request ends: a
// handler that has done its work on the tenant and only has a slow client left to write to
// (a download) calls it, so the business's other requests need not wait for that client.
func End(ctx context.Context) {
	if end, ok := ctx.Value(key{}).(func()); ok {
		end()
	}
}
