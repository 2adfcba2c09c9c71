package parallel

import (
	"sync/atomic"
	"testing"
)

// Every index is visited exactly once, whatever n and the chunk size.
func TestForCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000, 1 << 16} {
		for _, chunk := range []int{0, 1, 100, 1 << 20} {
			seen := make([]atomic.Int32, n)
			For(n, chunk, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if seen[i].Load() != 1 {
					t.Fatalf("n=%d chunk=%d: index %d visited %d times", n, chunk, i, seen[i].Load())
				}
			}
		}
	}
}
