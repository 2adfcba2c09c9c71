package engine

import (
	"container/list"
	"sync"
)

// LayerCache is a byte-bounded least-recently-used cache of packed layers.
// One cache holds both the source layers a Loader reads and the merged
// layers a stitch.Builder computes, so one bound covers the engine's
// weights. A layer evicted while a net still uses it lives on until that
// net is done; asked for again, it is read (or merged) and packed again.
type LayerCache struct {
	mu    sync.Mutex
	max   int64 // < 0: unbounded; 0: nothing is kept
	bytes int64
	peak  int64
	order *list.List // front: most recent
	items map[string]*list.Element
	stats map[string]*CacheStats
}

// CacheStats counts one kind of entry ("source", "merge").
type CacheStats struct {
	Hits, Misses, Evictions int
}

type cacheEntry struct {
	key, kind string
	layer     *Layer
	size      int64
}

// NewLayerCache returns a cache bounded to max bytes (< 0: unbounded; 0:
// nothing is kept).
func NewLayerCache(max int64) *LayerCache {
	return &LayerCache{max: max, order: list.New(), items: map[string]*list.Element{}, stats: map[string]*CacheStats{}}
}

func (c *LayerCache) stat(kind string) *CacheStats {
	s, ok := c.stats[kind]
	if !ok {
		s = &CacheStats{}
		c.stats[kind] = s
	}
	return s
}

// Get returns the layer cached under kind/key.
func (c *LayerCache) Get(kind, key string) (*Layer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[kind+"\x00"+key]; ok {
		c.order.MoveToFront(e)
		c.stat(kind).Hits++
		return e.Value.(*cacheEntry).layer, true
	}
	c.stat(kind).Misses++
	return nil, false
}

// Put caches l under kind/key, evicting the least recently used entries
// past the bound.
func (c *LayerCache) Put(kind, key string, l *Layer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 {
		return
	}
	k := kind + "\x00" + key
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	size := l.Bytes()
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, kind: kind, layer: l, size: size})
	c.bytes += size
	for c.max > 0 && c.bytes > c.max && c.order.Len() > 1 {
		last := c.order.Back()
		ent := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.items, ent.key)
		c.bytes -= ent.size
		c.stat(ent.kind).Evictions++
	}
	c.peak = max(c.peak, c.bytes)
}

// Stats returns the counts of one kind of entry.
func (c *LayerCache) Stats(kind string) CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.stat(kind)
}

// Bytes is what the cache holds now, and the most it has held.
func (c *LayerCache) Bytes() (now, peak int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, c.peak
}
