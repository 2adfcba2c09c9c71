package engine

import (
	"container/list"
	"runtime"
	"sync"
)

// Weights is what the cache holds: a packed layer or a head.
type Weights interface{ Bytes() int64 }

// LayerCache is a byte-bounded least-recently-used cache of packed weights.
// One cache holds the source layers a Loader reads, the merged layers and
// the merged heads a stitch.Builder computes, so one bound covers the
// engine's weights. An entry handed out (Get, Put) is pinned until the net built
// from it is garbage collected (Adopt) or the build gives up (Unpin):
// eviction passes over pinned layers, so the bound counts every packed
// layer in use, not only the idle ones (an evicted layer a net still held
// would otherwise stay in memory uncounted, and be read again beside it).
// The bound is exceeded only when the nets in use need more than it alone.
type LayerCache struct {
	mu     sync.Mutex
	max    int64 // < 0: unbounded; 0: nothing is kept
	bytes  int64
	peak   int64
	order  *list.List // front: most recent
	items  map[string]*list.Element
	stats  map[string]*CacheStats
	pinned map[Weights]int
}

// CacheStats counts one kind of entry ("source", "merge").
type CacheStats struct {
	Hits, Misses, Evictions int
}

type cacheEntry struct {
	key, kind string
	w         Weights
	size      int64
}

// NewLayerCache returns a cache bounded to max bytes (< 0: unbounded; 0:
// nothing is kept).
func NewLayerCache(max int64) *LayerCache {
	return &LayerCache{max: max, order: list.New(), items: map[string]*list.Element{}, stats: map[string]*CacheStats{}, pinned: map[Weights]int{}}
}

func (c *LayerCache) stat(kind string) *CacheStats {
	s, ok := c.stats[kind]
	if !ok {
		s = &CacheStats{}
		c.stats[kind] = s
	}
	return s
}

// Get returns the entry cached under kind/key, pinned.
func (c *LayerCache) Get(kind, key string) (Weights, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[kind+"\x00"+key]; ok {
		c.order.MoveToFront(e)
		c.stat(kind).Hits++
		w := e.Value.(*cacheEntry).w
		c.pinned[w]++
		return w, true
	}
	c.stat(kind).Misses++
	return nil, false
}

// Put caches l under kind/key, pinned, evicting the least recently used
// unpinned entries past the bound.
func (c *LayerCache) Put(kind, key string, l Weights) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinned[l]++
	if c.max == 0 {
		return
	}
	k := kind + "\x00" + key
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	size := l.Bytes()
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, kind: kind, w: l, size: size})
	c.bytes += size
	c.evict()
	c.peak = max(c.peak, c.bytes)
}

// Reserve makes room for n more bytes before they are read or computed:
// it drops least recently used unpinned entries until the cache holds at
// most its bound less n, so a new layer (or a 0.5 GB head) does not sit
// beside a full cache until Put evicts.
func (c *LayerCache) Reserve(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 {
		c.evictTo(c.max - n)
	}
}

// evict drops least recently used layers that nothing pins until the cache
// is within its bound.
func (c *LayerCache) evict() {
	if c.max > 0 {
		c.evictTo(c.max)
	}
}

// evictTo drops least recently used unpinned entries until the cache holds
// at most bound bytes (or only pinned ones).
func (c *LayerCache) evictTo(bound int64) {
	for e := c.order.Back(); c.bytes > bound && e != nil; {
		prev := e.Prev()
		ent := e.Value.(*cacheEntry)
		if c.pinned[ent.w] == 0 {
			c.order.Remove(e)
			delete(c.items, ent.key)
			c.bytes -= ent.size
			c.stat(ent.kind).Evictions++
		}
		e = prev
	}
}

// Unpin releases one pin on each layer (a build that gave up).
func (c *LayerCache) Unpin(layers []*Layer) {
	ws := make([]Weights, 0, len(layers))
	for _, l := range layers {
		if l != nil {
			ws = append(ws, l.weights()...)
		}
	}
	c.unpin(ws)
}

// UnpinHead releases the pin Get or Put took on a head.
func (c *LayerCache) UnpinHead(h *Head) { c.unpin([]Weights{h}) }

func (c *LayerCache) unpin(ws []Weights) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range ws {
		if c.pinned[w]--; c.pinned[w] <= 0 {
			delete(c.pinned, w)
		}
	}
	c.evict()
}

// Adopt hands the pins of net's layers (one per slot, as Get and Put took
// them) and, with pinnedHead, of its head to the net: they are released
// when it is garbage collected.
func (c *LayerCache) Adopt(net *Net, pinnedHead bool) {
	ws := make([]Weights, 0, len(net.Layers)+1)
	for _, l := range net.Layers {
		ws = append(ws, l.weights()...)
	}
	if pinnedHead {
		ws = append(ws, net.Head)
	}
	runtime.AddCleanup(net, c.unpin, ws)
}

// PinnedLayers is how many distinct layers are pinned.
func (c *LayerCache) PinnedLayers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pinned)
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
