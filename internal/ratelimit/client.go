package ratelimit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies (CIDR prefixes) whose forwarding headers are believed. Without
// any, a request's client is its direct peer and X-Forwarded-For and Forwarded are ignored: any
// client can write them. Behind a proxy every client would otherwise share the proxy's address
// and its limits.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of CIDR prefixes or single addresses
// ("10.0.0.0/8, 192.0.2.7, ::1").
func ParseProxies(list string) (Proxies, error) {
	var out Proxies
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not a CIDR prefix (such as 10.0.0.0/8)", f)
		}
		// Addresses are compared unmapped (trusted), so an IPv4-mapped prefix such as
		// ::ffff:10.0.0.0/104 becomes the IPv4 prefix it names.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (p Proxies) String() string {
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, x := range p {
		if x.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds how many forwarding entries are looked at: a proxy chain is short, and a
// header of thousands of entries is somebody's attempt at making the server work.
const maxHops = 16

// Client is the address r came from. It is the direct peer unless that peer is a trusted proxy:
// then the forwarding header is read from the right (each proxy appends the peer it saw) and the
// first address that is not a trusted proxy is the client. X-Forwarded-For is read, or Forwarded
// (RFC 7239) when there is no X-Forwarded-For. An entry that is not an address (unknown, an
// obfuscated name) stops the walk at the proxy that wrote it.
func (p Proxies) Client(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if len(p) == 0 || !peer.IsValid() || !p.trusted(peer) {
		return addrString(peer, r.RemoteAddr)
	}
	hops := forwardedFor(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxHops; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !p.trusted(client) {
			break
		}
	}
	return client.String()
}

// forwardedFor lists the addresses of X-Forwarded-For, or else of Forwarded's for= parameters,
// leftmost (the original client, as claimed) first.
func forwardedFor(h http.Header) []string {
	var out []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for f := range strings.SplitSeq(v, ",") {
				out = append(out, strings.TrimSpace(f))
			}
		}
		return out
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				out = append(out, forwardedNode(val))
			}
		}
	}
	return out
}

// forwardedNode is the address of a Forwarded for= value: "192.0.2.60", "\"[2001:db8::1]:4711\"".
func forwardedNode(v string) string {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	if strings.HasPrefix(v, "[") {
		if end := strings.Index(v, "]"); end > 0 {
			return v[1:end]
		}
		return v
	}
	if host, _, err := net.SplitHostPort(v); err == nil {
		return host
	}
	return v
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(remote)
	return a.Unmap()
}

func addrString(a netip.Addr, raw string) string {
	if a.IsValid() {
		return a.String()
	}
	if host, _, err := net.SplitHostPort(raw); err == nil {
		return host
	}
	return raw
}

type clientKey struct{}

// WithClient records in ctx the client address of its request (Proxies.Client), for the limits
// that whoever handles it keeps.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFrom returns the address WithClient recorded, or the direct peer of r.
func ClientFrom(r *http.Request) string {
	if a, ok := r.Context().Value(clientKey{}).(string); ok {
		return a
	}
	return Proxies(nil).Client(r)
}
