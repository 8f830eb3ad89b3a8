package domain

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultAvailabilityCacheDays bounds the days of availability kept for one open business (one
// per service, staff choice, seats, date and zone); the least recently used goes first. A day
// costs its slots (64 bytes each) and about 300 bytes more, and every open business may keep
// its own (docs/perf.md).
const DefaultAvailabilityCacheDays = 64

// availabilityCacheKey is the key of a business's kept availability among its database's values.
type availabilityCacheKey struct{}

// availabilityCache keeps the answers of Store.Availability, one day each, for as long as the
// business's database stays at the version they were computed at. Public pages and lookups ask
// for the same few days again and again, and each answer reads a window of bookings and works
// through every candidate start; any commit (a booking, time off, new hours, a write made
// outside the Store) moves the version and drops them all, and only this business's.
// The booking transaction never reads it: it always computes its slot again inside the
// transaction.
type availabilityCache struct {
	version func() uint64
	max     int

	mu   sync.Mutex
	at   uint64 // the version of every entry
	days map[dayKey]*list.Element
	lru  list.List // of *keptDay, most recently used first
}

type dayKey struct {
	service, staff int64
	seats          int
	date           Date
	zone           string
}

// keptDay is one day's answer, computed when the clock read computedAt (unix seconds); it stays
// the answer while the clock reads computedAt to computedAt+life (computeAvailability). Its
// slots are shared by every request that gets it: nobody may change them.
type keptDay struct {
	key        dayKey
	day        Day
	computedAt int64
	life       int64
}

func newAvailabilityCache(version func() uint64, maxDays int) *availabilityCache {
	return &availabilityCache{version: version, max: maxDays, days: map[dayKey]*list.Element{}}
}

// cachedAvailability is Availability through the kept days: the days of q that are kept and
// still current come from memory, and the span from the first missing day to the last is
// computed in one go and kept.
func (s *Store) cachedAvailability(ctx context.Context, q AvailabilityQuery) ([]Day, error) {
	ac := s.avail
	// The version is read before anything is read from the database, so an answer computed while
	// a write commits is kept under the version before it: out of date at once, never served.
	var v uint64
	if ac != nil {
		v = ac.version()
	}
	cat, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	if ac == nil || q.To.Before(q.From) || q.From.AddDays(MaxAvailabilityDays-1).Before(q.To) {
		days, _, err := s.availability(ctx, s.r, cat, q, 0, false)
		return days, err
	}
	now := s.now()
	key := dayKey{service: q.ServiceID, staff: q.StaffID, seats: max(q.Seats, 1), zone: s.loc.String()}
	n := q.From.DaysUntil(q.To) + 1
	out := make([]Day, n)
	first, last := ac.lookup(v, key, q.From, now.Unix(), out)
	if first < 0 {
		return out, nil
	}
	// The computation reads the clock once, at the instant the kept days are timed from.
	fixed := *s
	fixed.now = func() time.Time { return now }
	miss := q
	miss.From, miss.To = q.From.AddDays(first), q.From.AddDays(last)
	days, lives, err := fixed.availability(ctx, s.r, cat, miss, 0, false)
	if err != nil {
		return nil, err
	}
	copy(out[first:], days)
	ac.keep(v, key, days, lives, now.Unix())
	return out, nil
}

// lookup fills out with the kept days from from on that are current at version v and clock now,
// and returns the indexes of the first and last day it could not fill (-1, -1 when it filled
// them all).
func (ac *availabilityCache) lookup(v uint64, key dayKey, from Date, now int64, out []Day) (first, last int) {
	first, last = -1, -1
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ac.moveTo(v)
	for i := range out {
		key.date = from.AddDays(i)
		if ac.at == v {
			if e, ok := ac.days[key]; ok {
				k := e.Value.(*keptDay)
				if age := now - k.computedAt; age >= 0 && age <= k.life {
					out[i] = k.day
					ac.lru.MoveToFront(e)
					continue
				}
			}
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	return first, last
}

// keep stores days (from key's service, staff and seats), computed at version v and clock now.
func (ac *availabilityCache) keep(v uint64, key dayKey, days []Day, lives []int64, now int64) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ac.moveTo(v)
	if ac.at != v {
		return // a commit came in while they were computed
	}
	for i, d := range days {
		key.date = d.Date
		d.Slots = slices.Clip(d.Slots) // an append by a caller cannot reach a kept array
		k := &keptDay{key: key, day: d, computedAt: now, life: lives[i]}
		if e, ok := ac.days[key]; ok {
			e.Value = k
			ac.lru.MoveToFront(e)
			continue
		}
		ac.days[key] = ac.lru.PushFront(k)
		for ac.lru.Len() > ac.max {
			old := ac.lru.Back()
			delete(ac.days, old.Value.(*keptDay).key)
			ac.lru.Remove(old)
		}
	}
}

// carry keeps the days current at version began for the version after it, when the database is
// at that version (the one commit since was a booking transaction's, inBookingTx), except the
// days within reach of a booking it changed (touched, from start to end) and any day of another
// zone: those are dropped. A commit that comes after the check moves the version past the one
// kept, as any commit does.
func (ac *availabilityCache) carry(began uint64, touched []Span, reach time.Duration, loc *time.Location) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.at != began || ac.version() != began+1 {
		return
	}
	zone := loc.String()
	for key, e := range ac.days {
		if key.zone == zone && !near(key.date, loc, touched, reach) {
			continue
		}
		delete(ac.days, key)
		ac.lru.Remove(e)
	}
	ac.at = began + 1
}

// near reports whether date d (in loc), widened by reach on each side, overlaps one of spans.
func near(d Date, loc *time.Location, spans []Span, reach time.Duration) bool {
	from, to := d.At(0, loc).Add(-reach), d.AddDays(1).At(0, loc).Add(reach)
	for _, s := range spans {
		if s.Start.Before(to) && s.End.After(from) {
			return true
		}
	}
	return false
}

// moveTo drops every kept day when version v is newer than theirs.
func (ac *availabilityCache) moveTo(v uint64) {
	if v > ac.at {
		clear(ac.days)
		ac.lru.Init()
		ac.at = v
	}
}
