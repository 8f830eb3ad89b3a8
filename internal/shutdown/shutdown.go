// Package shutdown tells long-lived connections that the server is shutting down.
// http.Server.Shutdown waits for ordinary requests but not for hijacked connections (websockets),
// which would keep their tenant's lease until the process gave up on them; cancelling the
// server's BaseContext instead would abort the ordinary requests Shutdown is letting finish.
// So the server carries a channel in every request's context, closed when Shutdown starts, and
// only the connections that outlive a request watch it.
package shutdown

import (
	"context"
	"net"
	"net/http"
	"sync"
)

type key struct{}

// Notify makes srv put a channel in every request's context (see Signal) and close it when
// srv.Shutdown is called. Call it before srv serves; it keeps any BaseContext srv has.
func Notify(srv *http.Server) {
	ch := make(chan struct{})
	base := srv.BaseContext
	srv.BaseContext = func(ln net.Listener) context.Context {
		ctx := context.Background()
		if base != nil {
			ctx = base(ln)
		}
		return context.WithValue(ctx, key{}, (<-chan struct{})(ch))
	}
	var once sync.Once // Shutdown may be called more than once
	srv.RegisterOnShutdown(func() { once.Do(func() { close(ch) }) })
}

// Signal returns the channel closed when the server that received ctx's request shuts down
// (nil, which never closes, under a server without Notify).
func Signal(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(key{}).(<-chan struct{})
	return ch
}
