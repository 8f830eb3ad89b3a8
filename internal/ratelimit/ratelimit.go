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
