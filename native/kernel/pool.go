package kernel

import (
	"math/bits"
	"sync"
)

// floatPools hold float32 buffers by size class (capacity 2^k).
var floatPools [48]sync.Pool

// GetFloats returns a buffer of n values with unspecified contents, from
// a pool of buffers given back by PutFloats: the forward pass's per-batch
// buffers (activations, attention's packed keys and values) would
// otherwise be most of an evaluation's garbage.
func GetFloats(n int) []float32 {
	if n <= 0 {
		return nil
	}
	k := bits.Len(uint(n - 1))
	if p, ok := floatPools[k].Get().(*[]float32); ok {
		return (*p)[:n]
	}
	return make([]float32, n, 1<<k)
}

// PutFloats gives back a buffer from GetFloats (others are ignored); the
// caller does not use it after.
func PutFloats(v []float32) {
	c := cap(v)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	v = v[:0]
	floatPools[bits.Len(uint(c-1))].Put(&v)
}

// Recycle gives the memory of a matrix packed by PackStrided back to the
// pool; p is not used after.
func (p *Packed) Recycle() {
	PutFloats(p.data)
	p.data = nil
}
