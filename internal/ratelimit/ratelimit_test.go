package ratelimit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/reserva/reserva/internal/ratelimit"
)

func TestClient(t *testing.T) {
	proxies, err := ratelimit.ParseProxies("10.0.0.0/8, 192.0.2.1, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := ratelimit.ParseProxies("::ffff:10.0.0.0/104") // 10.0.0.0/8, written IPv4-mapped
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		proxies    ratelimit.Proxies
		header     map[string]string
		want       string
	}{
		{"NoProxiesIgnoresHeaders", "203.0.113.9:4000", nil, map[string]string{"X-Forwarded-For": "1.2.3.4"}, "203.0.113.9"},
		{"UntrustedPeer", "203.0.113.9:4000", proxies, map[string]string{"X-Forwarded-For": "1.2.3.4"}, "203.0.113.9"},
		{"TrustedPeer", "10.1.2.3:4000", proxies, map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
		{"SpoofedLeftEntry", "10.1.2.3:4000", proxies, map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"SingleAddressProxy", "192.0.2.1:80", proxies, map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
		{"AllTrusted", "10.1.2.3:4000", proxies, map[string]string{"X-Forwarded-For": "10.0.0.5"}, "10.0.0.5"},
		{"NoHeader", "10.1.2.3:4000", proxies, nil, "10.1.2.3"},
		{"Garbage", "10.1.2.3:4000", proxies, map[string]string{"X-Forwarded-For": "unknown"}, "10.1.2.3"},
		{"Forwarded", "10.1.2.3:4000", proxies, map[string]string{"Forwarded": `for=6.6.6.6, for="[2001:db8::1]:4711";proto=https`}, "2001:db8::1"},
		{"ForwardedPort", "[2001:db8:ffff::1]:443", proxies, map[string]string{"Forwarded": `For="198.51.100.7:1234"`}, "198.51.100.7"},
		{"XForwardedForFirst", "10.1.2.3:4000", proxies, map[string]string{"Forwarded": "for=6.6.6.6", "X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
		{"MappedIPv4", "[::ffff:10.1.2.3]:4000", proxies, map[string]string{"X-Forwarded-For": "::ffff:198.51.100.7"}, "198.51.100.7"},
		{"MappedPrefix", "10.1.2.3:4000", mapped, map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if got := tc.proxies.Client(r); got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8"} {
		if _, err := ratelimit.ParseProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	l := ratelimit.New(6*time.Second, 2)
	if l.RetryAfter("a") != 0 || !l.Allow("a") || !l.Allow("a") || l.Allow("a") {
		t.Fatal("burst of 2 not kept")
	}
	if d := l.RetryAfter("a"); d <= 5*time.Second || d > 6*time.Second || ratelimit.Seconds(d) != 6 {
		t.Errorf("retry after %v (%d s)", d, ratelimit.Seconds(d))
	}
	if ratelimit.Seconds(0) != 1 || ratelimit.Seconds(1500*time.Millisecond) != 2 {
		t.Error("Seconds rounds up to at least 1")
	}
}
