package engine

import "testing"

// size is a cache entry of a given number of bytes.
type size struct{ n int64 }

func (s *size) Bytes() int64 { return s.n }

// Reserve drops least recently used unpinned entries until the new bytes
// fit beside what stays; pinned entries stay whatever it asks.
func TestCacheReserve(t *testing.T) {
	c := NewLayerCache(100)
	a, b, p := &size{40}, &size{40}, &size{20}
	c.Put("source", "a", a)
	c.Put("source", "b", b)
	c.Put("merge", "p", p) // stays pinned
	c.unpin([]Weights{a, b})
	c.Get("source", "a") // a is now the most recent
	c.unpin([]Weights{a})
	c.Reserve(30) // 100 held: b (least recent) goes, a and p stay
	if now, _ := c.Bytes(); now != 60 || c.Stats("source").Evictions != 1 {
		t.Fatalf("after Reserve(30): %d bytes, %+v", now, c.Stats("source"))
	}
	if _, ok := c.Get("source", "b"); ok {
		t.Fatal("b survived")
	}
	c.unpin([]Weights{a})
	c.Reserve(100) // all but the pinned p
	if now, _ := c.Bytes(); now != 20 {
		t.Fatalf("after Reserve(100): %d bytes, want the pinned 20", now)
	}
	NewLayerCache(-1).Reserve(1 << 40) // unbounded: nothing to do
}
