package tenancy

import (
	"context"
	"errors"
	"sync"
	"time"
)

// resolverCache remembers slug and host lookups, found or not, for a short time. Changes made
// through this process invalidate it at once; changes made by another process (the CLI while the
// server runs) are seen within the TTL.
type resolverCache struct {
	reg Registry
	ttl time.Duration
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedTenant // "s:"+slug or "h:"+host
	gen     uint64                  // bumped by invalidate: lookups begun before it are not cached
}

type cachedTenant struct {
	t        Tenant
	redirect string // current slug when the key is an old slug
	err      error  // ErrNotFound when nothing matched
	at       time.Time
}

// maxCached bounds the cache, so a flood of made-up slugs cannot grow it without limit.
const maxCached = 50_000

func newResolverCache(reg Registry, ttl time.Duration, now func() time.Time) *resolverCache {
	return &resolverCache{reg: reg, ttl: ttl, now: now, entries: map[string]cachedTenant{}}
}

func (c *resolverCache) invalidate() {
	c.mu.Lock()
	clear(c.entries)
	c.gen++
	c.mu.Unlock()
}

// get returns the cached entry for key, if fresh, and the generation to pass to put.
func (c *resolverCache) get(key string) (cachedTenant, uint64, bool) {
	c.mu.RLock()
	ct, ok := c.entries[key]
	gen := c.gen
	c.mu.RUnlock()
	return ct, gen, ok && c.now().Sub(ct.at) < c.ttl
}

// put caches ct unless the cache was invalidated since the lookup began (at generation gen).
func (c *resolverCache) put(key string, gen uint64, ct cachedTenant) {
	ct.at = c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[key] = ct
}

// slug resolves a slug to its tenant, or, for the old slug of a renamed tenant, to the slug it
// redirects to. Unknown slugs give ErrNotFound.
func (c *resolverCache) slug(ctx context.Context, slug string) (Tenant, string, error) {
	key := "s:" + slug
	ct, gen, ok := c.get(key)
	if ok {
		return ct.t, ct.redirect, ct.err
	}
	ct = cachedTenant{}
	ct.t, ct.err = c.reg.BySlug(ctx, slug)
	if errors.Is(ct.err, ErrNotFound) {
		ct.redirect, ct.err = c.reg.Redirect(ctx, slug)
	}
	if ct.err != nil && !errors.Is(ct.err, ErrNotFound) {
		return Tenant{}, "", ct.err // a registry failure is not remembered
	}
	c.put(key, gen, ct)
	return ct.t, ct.redirect, ct.err
}

func (c *resolverCache) host(ctx context.Context, host string) (Tenant, error) {
	key := "h:" + host
	ct, gen, ok := c.get(key)
	if ok {
		return ct.t, ct.err
	}
	t, err := c.reg.ByHost(ctx, host)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Tenant{}, err
	}
	c.put(key, gen, cachedTenant{t: t, err: err})
	return t, err
}

// Resolve returns the tenant at slug. For an old slug of a renamed tenant it returns a zero
// Tenant and the current slug, to redirect to. Unknown (or invalid) slugs give ErrNotFound.
func (m *Manager) Resolve(ctx context.Context, slug string) (t Tenant, redirect string, err error) {
	if ValidateSlug(slug) != nil {
		return Tenant{}, "", ErrNotFound
	}
	return m.cache.slug(ctx, slug)
}

// ResolveHost returns the tenant that a custom host serves.
func (m *Manager) ResolveHost(ctx context.Context, host string) (Tenant, error) {
	return m.cache.host(ctx, host)
}
