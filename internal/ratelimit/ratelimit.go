// Package ratelimit keeps a token bucket per client key (say, tenant and IP address).
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter allows each key burst actions at once, then one per interval.
type Limiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds memory: past it the buckets start afresh (a flood of addresses resets
// everyone's allowance; it never blocks the server).
const maxBuckets = 100_000

// New returns a Limiter of burst actions, then one every interval, per key.
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{every: every, burst: burst, buckets: map[string]*rate.Limiter{}}
}

func (l *Limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	return b
}

// Allow takes one action from key's allowance, if there is one left.
func (l *Limiter) Allow(key string) bool { return l.bucket(key).Allow() }

// Exhausted reports, without taking any, whether key has no allowance left.
func (l *Limiter) Exhausted(key string) bool { return l.bucket(key).Tokens() < 1 }

// RetryAfter is how long key must wait for its next action: 0 while it has allowance left.
func (l *Limiter) RetryAfter(key string) time.Duration {
	b := l.bucket(key)
	tokens := b.Tokens()
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) * float64(l.every))
}

// Seconds is d in whole seconds, rounded up and at least 1: a Retry-After header's value, and
// GraphQL's extensions.retryAfter.
func Seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// Bookings a client (business and address) may make at once, then one every
// DefaultBookingEvery: the public booking form and GraphQL's createBooking keep the same rule.
const (
	DefaultBookingBurst = 10
	DefaultBookingEvery = 6 * time.Second
)
