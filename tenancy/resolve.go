package tenancy

import (
	"context"
	"errors"
	"sync"
	"time"
)

// resolverCache remembers slug and host lookups, found or not. Changes made through this process
// invalidate it at once. Changes made by another process (the CLI while the server runs) are
// seen within the TTL: with a registry that has a change counter, an entry stays while the
// counter is unchanged (read at most once per recheck, a fraction of the TTL); otherwise it
// expires after the TTL. A request to a business seen before then costs no registry query, even
// when its last visit was long ago.
type resolverCache struct {
	reg     Registry
	counter changeCounter // nil: entries expire after ttl
	ttl     time.Duration
	recheck time.Duration
	now     func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedTenant // "s:"+slug or "h:"+host
	gen     uint64                  // bumped by invalidate: lookups begun before it are not cached

	verMu sync.Mutex
	ver   int64 // the counter as last read, at verAt; verOK false when that read failed
	verAt time.Time
	verOK bool
}

// changeCounter is a registry that can tell cheaply whether anything in it changed.
type changeCounter interface {
	ChangeCounter(ctx context.Context) (int64, error)
}

type cachedTenant struct {
	t        Tenant
	redirect string // current slug when the key is an old slug
	err      error  // ErrNotFound when nothing matched
	at       time.Time
	ver      int64 // the registry's change counter before the lookup, when verOK
	verOK    bool
}

// maxCached bounds the cache, so a flood of made-up slugs cannot grow it without limit.
const maxCached = 50_000

func newResolverCache(reg Registry, ttl time.Duration, now func() time.Time) *resolverCache {
	c := &resolverCache{reg: reg, ttl: ttl, recheck: min(ttl/8, 250*time.Millisecond), now: now, entries: map[string]cachedTenant{}}
	c.counter, _ = reg.(changeCounter)
	return c
}

// version returns the registry's change counter, read again when the last read is older than
// recheck; ok is false when there is no counter or it cannot be read.
func (c *resolverCache) version(ctx context.Context) (v int64, ok bool) {
	if c.counter == nil {
		return 0, false
	}
	c.verMu.Lock()
	defer c.verMu.Unlock()
	if now := c.now(); !c.verOK || now.Sub(c.verAt) >= c.recheck || now.Before(c.verAt) {
		v, err := c.counter.ChangeCounter(ctx)
		c.ver, c.verAt, c.verOK = v, now, err == nil
	}
	return c.ver, c.verOK
}

func (c *resolverCache) invalidate() {
	c.mu.Lock()
	clear(c.entries)
	c.gen++
	c.mu.Unlock()
}

// forget drops the entries that resolve to tenant id (its slug and hosts) and keeps the others.
func (c *resolverCache) forget(id string) {
	c.mu.Lock()
	for k, ct := range c.entries {
		if ct.t.ID == id {
			delete(c.entries, k)
		}
	}
	c.gen++
	c.mu.Unlock()
}

// get returns the cached entry for key, if still good, and what put needs: the generation and
// the change counter as they were before the lookup.
func (c *resolverCache) get(ctx context.Context, key string) (ct cachedTenant, gen uint64, ver int64, verOK, ok bool) {
	ver, verOK = c.version(ctx)
	c.mu.RLock()
	ct, ok = c.entries[key]
	gen = c.gen
	c.mu.RUnlock()
	if verOK && ct.verOK {
		ok = ok && ct.ver == ver
	} else {
		ok = ok && c.now().Sub(ct.at) < c.ttl
	}
	return ct, gen, ver, verOK, ok
}

// put caches ct unless the cache was invalidated since the lookup began (at generation gen).
func (c *resolverCache) put(key string, gen uint64, ver int64, verOK bool, ct cachedTenant) {
	ct.at, ct.ver, ct.verOK = c.now(), ver, verOK
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
	ct, gen, ver, verOK, ok := c.get(ctx, key)
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
	c.put(key, gen, ver, verOK, ct)
	return ct.t, ct.redirect, ct.err
}

func (c *resolverCache) host(ctx context.Context, host string) (Tenant, error) {
	key := "h:" + host
	ct, gen, ver, verOK, ok := c.get(ctx, key)
	if ok {
		return ct.t, ct.err
	}
	t, err := c.reg.ByHost(ctx, host)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Tenant{}, err
	}
	c.put(key, gen, ver, verOK, cachedTenant{t: t, err: err})
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
