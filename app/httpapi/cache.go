package httpapi

import (
	"sync"
	"time"
)

// ttlCache keeps computed values for a short time. Concurrent misses on one
// key wait for a single computation instead of all hitting the database.
type ttlCache[K comparable, V any] struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[K]*cacheEntry[V]
}

type cacheEntry[V any] struct {
	ready   chan struct{}
	value   V
	err     error
	expires time.Time
}

// maxCacheEntries bounds memory when clients ask for many distinct keys.
const maxCacheEntries = 10_000

func newTTLCache[K comparable, V any](ttl time.Duration) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, entries: map[K]*cacheEntry[V]{}}
}

func (c *ttlCache[K, V]) get(key K, compute func() (V, error)) (V, error) {
	if c.ttl <= 0 {
		return compute()
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok || (isReady(e) && now.After(e.expires)) {
		if len(c.entries) >= maxCacheEntries {
			c.evictExpired(now)
		}
		e = &cacheEntry[V]{ready: make(chan struct{})}
		c.entries[key] = e
		c.mu.Unlock()
		e.value, e.err = compute()
		e.expires = time.Now().Add(c.ttl)
		if e.err != nil {
			e.expires = time.Time{} // never serve a cached failure
		}
		close(e.ready)
		return e.value, e.err
	}
	c.mu.Unlock()
	<-e.ready
	return e.value, e.err
}

func isReady[V any](e *cacheEntry[V]) bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

func (c *ttlCache[K, V]) evictExpired(now time.Time) {
	for k, e := range c.entries {
		if isReady(e) && now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
}
