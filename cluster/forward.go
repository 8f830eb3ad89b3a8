package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/tenancy"
)

// ForwardedHeader marks a request that a node forwarded to another; its value is the
// forwarding node's id. A request that carries it is never forwarded again: the node that
// receives it serves it, or answers 421 when it does not own the tenant.
const ForwardedHeader = "X-Reserva-Forwarded"

// Defaults of the forwarder.
const (
	// DefaultMaxForwardBody is the largest request body a forwarder holds to send it again
	// after a 421 (the web layer's own limit, domain.MaxBodyBytes, is the same).
	DefaultMaxForwardBody = 1 << 20
	// DefaultForwardDialTimeout bounds connecting to an owner.
	DefaultForwardDialTimeout = time.Second
	// DefaultForwardHeaderTimeout bounds the wait for an owner's response headers. An owner
	// that is paused (SIGSTOP, a stalled VM) accepts connections but never answers: waiting for
	// it longer than the liveness TTL only holds the client, since by then its heartbeat has
	// lapsed and the next try may claim the business elsewhere.
	DefaultForwardHeaderTimeout = DefaultLivenessTTL
)

// OwnerFunc returns the node that owns r's tenant: "" when r has no tenant in the cluster's
// state (the local handler answers it: static files, sign-up, 404s). fresh asks it to look past
// every cache, for after an owner answered 421. An error means the owner cannot be known now.
type OwnerFunc func(r *http.Request, fresh bool) (node string, err error)

// AddrFunc returns the base URL (scheme and host) of a node's HTTP server.
type AddrFunc func(node string) (*url.URL, error)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	Self  string       // this node's id
	Owner OwnerFunc    // who owns a request's tenant
	Addr  AddrFunc     // where a node serves
	Local http.Handler // serves what this node owns
	Log   *slog.Logger
	// MaxBody defaults to DefaultMaxForwardBody.
	MaxBody int64
	// Transport defaults to a transport with DefaultForwardDialTimeout and
	// DefaultForwardHeaderTimeout.
	Transport http.RoundTripper
}

// Forwarder serves the requests of tenants this node owns and forwards the others to their
// owner, once: the owner serves it or, when the tenant moved meanwhile, answers 421; then the
// forwarder reads the owner again past its cache and tries once more (or serves it itself,
// when the tenant moved here). Websockets pass through (httputil.ReverseProxy forwards the
// upgrade).
type Forwarder struct {
	cfg   ForwarderConfig
	proxy *httputil.ReverseProxy
}

// errMisdirected is what a 421 from an owner becomes, so the proxy hands it to the retry.
var errMisdirected = errors.New("owner answered 421: it does not own the tenant")

// forwardKey carries an attempt's target in its request's context.
type forwardKey struct{}

type forwardAttempt struct {
	target *url.URL
	retry  bool         // a 421 may be retried
	served chan<- error // what became of the attempt, when it did not reach the client
}

// NewForwarder returns a Forwarder.
func NewForwarder(cfg ForwarderConfig) *Forwarder {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxForwardBody
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:                 nil, // peers are reached directly, whatever HTTP_PROXY says
			DialContext:           (&net.Dialer{Timeout: DefaultForwardDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: DefaultForwardHeaderTimeout,
		}
	}
	f := &Forwarder{cfg: cfg}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			a := pr.In.Context().Value(forwardKey{}).(*forwardAttempt)
			pr.SetURL(a.target)
			pr.Out.Host = pr.In.Host // custom hosts resolve by Host
			// The chain so far stays, and SetXForwarded appends this node's peer: an owner
			// that trusts the nodes and the proxies in front of them (--trusted-proxies)
			// reads the client's own address, for its per-client limits.
			if prior, ok := pr.In.Header["X-Forwarded-For"]; ok {
				pr.Out.Header["X-Forwarded-For"] = slices.Clone(prior)
			}
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedHeader, cfg.Self)
		},
		Transport: cfg.Transport,
		ModifyResponse: func(resp *http.Response) error {
			a := resp.Request.Context().Value(forwardKey{}).(*forwardAttempt)
			if resp.StatusCode == http.StatusMisdirectedRequest && a.retry {
				return errMisdirected
			}
			return nil
		},
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			a := r.Context().Value(forwardKey{}).(*forwardAttempt)
			a.served <- err
		},
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return f
}

// ServeHTTP serves r here or at its tenant's owner.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	owner, err := f.cfg.Owner(r, false)
	if err != nil {
		f.unavailable(w, r, "", fmt.Errorf("find the owner: %w", err))
		return
	}
	if owner == "" || owner == f.cfg.Self {
		f.cfg.Local.ServeHTTP(w, r)
		return
	}
	if from := r.Header.Get(ForwardedHeader); from != "" {
		// Forwarded to this node, which does not own the tenant (any more): the sender reads
		// the owner again. Never a second hop, so that two nodes with crossed views cannot
		// bounce a request between them.
		http.Error(w, "This node does not own the business any more; try again.", http.StatusMisdirectedRequest)
		return
	}
	body, ok := f.readBody(w, r)
	if !ok {
		return
	}
	err = f.forward(w, r, owner, body, true)
	if !errors.Is(err, errMisdirected) {
		if err != nil {
			f.unavailable(w, r, owner, err)
		}
		return
	}
	next, err := f.cfg.Owner(r, true)
	switch {
	case err != nil:
		f.unavailable(w, r, owner, fmt.Errorf("find the owner again after a 421: %w", err))
	case next == "" || next == f.cfg.Self:
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.cfg.Local.ServeHTTP(w, r)
	case next == owner:
		f.unavailable(w, r, owner, errors.New("the owner answered 421 but is still the owner: ownership is changing"))
	default:
		if err := f.forward(w, r, next, body, false); err != nil {
			f.unavailable(w, r, next, err)
		}
	}
}

// forward sends r to node and copies the response to w. It returns errMisdirected (nothing
// written) when the node answered 421 and retry allows another try, or the error that kept the
// request from reaching the node (nothing written either); nil once a response was copied.
func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, node string, body []byte, retry bool) error {
	target, err := f.cfg.Addr(node)
	if err != nil {
		return fmt.Errorf("address of node %s: %w", node, err)
	}
	served := make(chan error, 1)
	a := &forwardAttempt{target: target, retry: retry, served: served}
	out := r.Clone(context.WithValue(r.Context(), forwardKey{}, a))
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	if body == nil {
		out.Body = http.NoBody
		out.ContentLength = r.ContentLength // 0, or -1 for an upgrade's stream
		if r.ContentLength <= 0 {
			out.ContentLength = 0
		}
	}
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	f.proxy.ServeHTTP(w, out)
	select {
	case err := <-served:
		return err
	default:
		return nil
	}
}

// readBody reads r's body into memory (so that it can be sent twice), refusing bodies over the
// limit with 413. It returns nil for a request without a body.
func (f *Forwarder) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > f.cfg.MaxBody {
		http.Error(w, "The request is too large.", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, f.cfg.MaxBody+1))
	if err != nil {
		http.Error(w, "The request could not be read.", http.StatusBadRequest)
		return nil, false
	}
	if int64(len(body)) > f.cfg.MaxBody {
		http.Error(w, "The request is too large.", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if len(body) == 0 {
		return nil, true
	}
	return body, true
}

// unavailable answers 503 for a request that could not reach its owner: a fault of the
// platform (the owner is down or ownership is changing), which clears within seconds.
func (f *Forwarder) unavailable(w http.ResponseWriter, r *http.Request, node string, err error) {
	f.cfg.Log.WarnContext(r.Context(), "forward request", "method", r.Method, "path", r.URL.Path,
		"owner", node, "err", err)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// The owner took the request and went silent: it may have done it. Only a retry
		// with the same idempotency key is safe, which is what the client is told.
		w.Header().Set("Retry-After", strconv.Itoa(int(DefaultLivenessTTL/time.Second)))
		http.Error(w, "The server that holds this business is not answering; try again in a few seconds. "+
			"If you were saving something, it may or may not have been saved: sending the same request again is safe.",
			http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "The business is moving between servers; try again in a moment.", http.StatusServiceUnavailable)
}

// RequestOwner returns the OwnerFunc of the cluster's state: the tenant of a request is found
// in the route map by its custom host or, failing that, its first path segment (as the web
// layer's TenantMiddleware does locally); its owner in placement. A request with no route, or
// whose tenant has no owner yet, is the local handler's.
func RequestOwner(routes RouteMap, placement Placement) OwnerFunc {
	return func(r *http.Request, fresh bool) (string, error) {
		ctx := r.Context()
		id, err := requestTenant(ctx, routes, r)
		if err != nil || id == "" {
			return "", err
		}
		var o Owner
		if fresh {
			o, err = placement.Refresh(ctx, id)
		} else {
			o, err = placement.Owner(ctx, id)
		}
		if errors.Is(err, ErrNotFound) {
			return "", nil
		}
		return o.Node, err
	}
}

// RequestTenant returns the id of r's tenant in the route map (by custom host, else first
// path segment), "" when the map has none for it.
func RequestTenant(ctx context.Context, routes RouteMap, r *http.Request) (string, error) {
	return requestTenant(ctx, routes, r)
}

// requestTenant returns the id of r's tenant, "" when the route map has none for it.
func requestTenant(ctx context.Context, routes RouteMap, r *http.Request) (string, error) {
	rt, err := routes.Lookup(ctx, RouteHost, tenancy.NormalizeHost(r.Host))
	if err == nil {
		return rt.TenantID, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	seg := r.URL.Path
	if len(seg) > 0 && seg[0] == '/' {
		seg = seg[1:]
	}
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	if seg == "" || tenancy.IsReservedSlug(seg) || tenancy.ValidateSlug(seg) != nil {
		return "", nil
	}
	rt, err = routes.Lookup(ctx, RouteSlug, seg)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return rt.TenantID, nil
}
