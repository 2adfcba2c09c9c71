package engine

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
)

// PrefixCache keeps the residual stream of a batch after a prefix of
// layers, keyed by the batch's tokens and the recipes of the layers run so
// far, so a candidate whose first k slots equal an earlier candidate's
// starts at layer k. It is bounded in bytes (least recently used first out)
// and safe for concurrent use.
type PrefixCache struct {
	mu            sync.Mutex
	max, bytes    int64
	order         *list.List
	items         map[string]*list.Element
	Hits, Misses  int
	LayersSkipped int
}

type prefixEntry struct {
	key string
	x   []float32
}

// NewPrefixCache returns a cache holding at most maxBytes of activations.
func NewPrefixCache(maxBytes int64) *PrefixCache {
	return &PrefixCache{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (c *PrefixCache) get(k string) ([]float32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*prefixEntry).x, true
	}
	return nil, false
}

func (c *PrefixCache) put(k string, x []float32) {
	size := int64(len(x)) * 4
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok || size > c.max {
		return
	}
	c.items[k] = c.order.PushFront(&prefixEntry{key: k, x: append([]float32(nil), x...)})
	c.bytes += size
	for c.bytes > c.max {
		last := c.order.Back()
		e := last.Value.(*prefixEntry)
		c.order.Remove(last)
		delete(c.items, e.key)
		c.bytes -= int64(len(e.x)) * 4
	}
}

// Bytes is the memory held.
func (c *PrefixCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Prefixes identifies a net's layers for the prefix cache: EmbedKey names
// where the embeddings come from and LayerKeys[i] the recipe of layer i.
type Prefixes struct {
	Cache     *PrefixCache
	EmbedKey  string
	LayerKeys []string
}

// batchKey hashes a batch's inputs (tokens, positions, segments).
func batchKey(seqs []Seq) []byte {
	h := sha256.New()
	var b [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(b[:], uint64(int64(v)))
		h.Write(b[:])
	}
	for _, s := range seqs {
		put(len(s.Tokens))
		for _, t := range s.Tokens {
			put(t)
		}
		put(len(s.Pos))
		for _, p := range s.Pos {
			put(p)
		}
		put(len(s.Seg))
		for _, g := range s.Seg {
			put(g)
		}
	}
	return h.Sum(nil)
}

// chainKeys returns the cache key after each prefix length 1..L.
func (p *Prefixes) chainKeys(batch []byte) []string {
	keys := make([]string, len(p.LayerKeys))
	h := sha256.Sum256(append(append([]byte(nil), batch...), p.EmbedKey...))
	for i, lk := range p.LayerKeys {
		h = sha256.Sum256(append(h[:], lk...))
		keys[i] = hex.EncodeToString(h[:16])
	}
	return keys
}
