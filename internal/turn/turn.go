// Package turn carries a request's turn of its business's fair share in the request's context.
// The web package's tenant middleware takes the turn; handlers in web and graph (a download, a
// live subscription) give it back early with End. It sits apart so that graph, which web
// imports, can reach it without importing web.
package turn

import "context"

type key struct{}

// turn is a request's turn and how to take another of the same business.
type turn struct {
	end  func()
	take func(context.Context) (func(), error)
}

// With returns ctx carrying end, the function that gives the request's turn back (safe to call
// more than once), and take, which waits for another turn of the same business and returns its
// end (for the operations a long-lived connection runs after it gave its own turn back).
func With(ctx context.Context, end func(), take func(context.Context) (func(), error)) context.Context {
	return context.WithValue(ctx, key{}, turn{end, take})
}

// Take waits for another turn of the request's business, as a new request would, and returns
// the function that ends it. A websocket gives its request's turn back once upgraded, and takes
// one for each query or mutation sent over it, so that work over a socket shares its business's
// cores like work over HTTP. Its error (the business stayed busy, or ctx ended) is the fair
// share's. Without a fair share in ctx it takes nothing.
func Take(ctx context.Context) (end func(), err error) {
	if t, ok := ctx.Value(key{}).(turn); ok && t.take != nil {
		return t.take(ctx)
	}
	return func() {}, nil
}

// End gives back the request's turn of its tenant's fair share before the request ends: a
// handler that has done its work on the tenant and only has a slow client left to write to
// (a download) calls it, so the business's other requests need not wait for that client.
func End(ctx context.Context) {
	if t, ok := ctx.Value(key{}).(turn); ok {
		t.end()
	}
}
