package domain

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Versioned is an open business database that says when it last changed: Version moves on after
// every commit, and Value keeps what is built from the database for as long as it stays open.
// (tenancy.DB is one.)
type Versioned interface {
	Pools() (write, read *sql.DB)
	Version() uint64
	Value(key any, build func() any) any
}

// NewCachedStore is NewStore with the business's catalog (settings, branding, services, staff)
// kept between requests while db's version stays the same. Public pages and availability read
// the catalog on every request and it changes rarely: a page view then reads it from memory,
// availability queries only its window (bookings, time off, date overrides). Availability's
// answers are kept too, by day, until the next commit (availabilitycache.go).
func NewCachedStore(db Versioned, loc *time.Location, now func() time.Time) *Store {
	write, read := db.Pools()
	s := NewStore(write, read, loc, now)
	s.cache = db.Value(catalogKey{}, func() any { return &catalogCache{version: db.Version} }).(*catalogCache)
	s.avail = db.Value(availabilityCacheKey{}, func() any {
		return newAvailabilityCache(db.Version, DefaultAvailabilityCacheDays)
	}).(*availabilityCache)
	return s
}

type catalogKey struct{}

// SharedStore is NewCachedStore with the real clock, made once for db and loc and shared by
// every request to it (a Store holds nothing of a request). Handlers ask for their business's
// store several times a request (the language, the page, the session); each NewCachedStore cost
// allocations, every time. A new loc (the business moved time zone) makes a new one.
func SharedStore(db Versioned, loc *time.Location) *Store {
	p := db.Value(sharedStoreKey{}, newStorePointer).(*atomic.Pointer[Store])
	if s := p.Load(); s != nil && s.loc == loc {
		return s
	}
	s := NewCachedStore(db, loc, time.Now)
	p.Store(s)
	return s
}

type sharedStoreKey struct{}

func newStorePointer() any { return new(atomic.Pointer[Store]) }

// catalog is a business's rarely changing data, read together. It is shared by concurrent
// requests: nobody may change it or the slices it holds.
type catalog struct {
	settings Settings
	branding Branding
	services []Service // all, archived too, by name
	staff    []Staff   // all, inactive too, by name
}

type catalogCache struct {
	version func() uint64
	mu      sync.Mutex
	at      uint64 // the version c was read at
	c       *catalog
}

// catalog returns the business's catalog: the kept one while the database has not changed,
// else a new read. The version is taken before reading, so a write that commits during the read
// leaves the copy already out of date, never stale under the new version.
func (s *Store) catalog(ctx context.Context) (*catalog, error) {
	if s.cache == nil {
		return readCatalog(ctx, s.r)
	}
	cc := s.cache
	c, v := cc.kept()
	if c != nil {
		return c, nil
	}
	c, err := readCatalog(ctx, s.r)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	if cc.c == nil || v >= cc.at {
		cc.c, cc.at = c, v
	}
	cc.mu.Unlock()
	return c, nil
}

// catalogIn returns the catalog as write transaction tx sees it, before tx has changed it. tx
// holds the write lock from its start (BEGIN IMMEDIATE) and every commit moves the version
// before the writer is free again, so a kept catalog of the current version is what tx would
// read: a booking checks its slot against it instead of reading the catalog again.
func (s *Store) catalogIn(ctx context.Context, tx *sql.Tx) (*catalog, error) {
	if s.cache != nil {
		if c, _ := s.cache.kept(); c != nil {
			return c, nil
		}
	}
	return readCatalog(ctx, tx)
}

// kept returns the kept catalog if nothing was committed since it was read (else nil), and the
// database's version as of the call.
func (cc *catalogCache) kept() (*catalog, uint64) {
	v := cc.version()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.c != nil && cc.at == v {
		return cc.c, v
	}
	return nil, v
}

func readCatalog(ctx context.Context, q querier) (*catalog, error) {
	var c catalog
	var err error
	if c.settings, err = settings(ctx, q); err != nil {
		return nil, err
	}
	err = q.QueryRowContext(ctx, `SELECT brand_color, logo_type, logo_version FROM settings WHERE id = 1`).
		Scan(&c.branding.Color, &c.branding.LogoType, &c.branding.LogoVersion)
	if err != nil {
		return nil, fmt.Errorf("read branding: %w", err)
	}
	if c.services, err = services(ctx, q); err != nil {
		return nil, err
	}
	if c.staff, err = allStaff(ctx, q); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *catalog) service(id int64) (Service, error) {
	if i := slices.IndexFunc(c.services, func(svc Service) bool { return svc.ID == id }); i >= 0 {
		return c.services[i], nil
	}
	return Service{}, Errorf(ENOTFOUND, "service %d not found", id)
}

func (c *catalog) staffMember(id int64) (Staff, error) {
	if i := slices.IndexFunc(c.staff, func(st Staff) bool { return st.ID == id }); i >= 0 {
		return c.staff[i], nil
	}
	return Staff{}, Errorf(ENOTFOUND, "staff member %d not found", id)
}

// matching returns the elements of xs that keep accepts, in order (a new slice: the catalog's
// own are shared).
func matching[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// inBookingTx is inTx for a transaction that writes bookings and what hangs off them (customers,
// events, tokens, messages) but never the catalog. When its commit is the only one since it
// began, the catalog kept before it is still the business's: it is kept for the new version
// instead of being read again by the next request (every booking used to cost its business's
// next page view or lookup a read of the whole catalog). So are the kept availability answers,
// but for the days near a booking fn changed: fn calls touch with every booking it changes, as
// it was before and as it is after the change (a booking moved frees one time and takes
// another). A booking made or changed drops only the days it can change, where every commit
// used to drop them all, and a busy business's lookups were mostly computed again.
func (s *Store) inBookingTx(ctx context.Context, fn func(tx *sql.Tx, touch func(Booking)) error) error {
	var touched []Span
	touch := func(b Booking) { touched = append(touched, Span{Start: b.Start, End: b.End}) }
	if s.cache == nil {
		return s.inTx(ctx, func(tx *sql.Tx) error { return fn(tx, touch) })
	}
	var kept *catalog
	var began uint64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// tx holds the write lock (BEGIN IMMEDIATE): no commit comes between here and its own.
		kept, began = s.cache.kept()
		return fn(tx, touch)
	})
	if err == nil && kept != nil {
		s.cache.carry(kept, began)
		if s.avail != nil {
			s.avail.carry(began, touched, kept.reach(), s.loc)
		}
	}
	return err
}

// reach is how far apart in time a booking and a slot it can take away may be: a slot's block
// (its start widened by its service's buffers and length) and a booking's block overlap only if
// they are within the longest block of either of each other. A booking keeps the buffers its
// service had when it was made (its stored block): a day more covers buffers shortened since.
func (c *catalog) reach() time.Duration {
	var longest time.Duration
	for _, svc := range c.services {
		longest = max(longest, svc.BufferBefore+svc.Duration+svc.BufferAfter)
	}
	return 2*longest + 24*time.Hour
}

// carry keeps c, current at version began, for the version after it, when the database is at
// that version: the one commit since was the caller's, which changed nothing of the catalog.
// A commit that comes after the check moves the version past the one kept, as any commit does.
func (cc *catalogCache) carry(c *catalog, began uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.c == c && cc.at == began && cc.version() == began+1 {
		cc.at = began + 1
	}
}

// settingsIn returns the settings as write transaction tx sees them (catalogIn).
func (s *Store) settingsIn(ctx context.Context, tx *sql.Tx) (Settings, error) {
	c, err := s.catalogIn(ctx, tx)
	if err != nil {
		return Settings{}, err
	}
	return c.settings, nil
}
