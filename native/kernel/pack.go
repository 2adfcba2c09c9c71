package kernel

import (
	"fmt"
	"math"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/parallel"
)

// Pack lays out W (row-major [N,K]) for MatMulT with the active kernel.
// When the kernel reads 16-bit panels (HalfWeights) and every value of W
// is a bfloat16 number — the low 16 bits of each float32 are zero, as for
// weights read from a BF16 checkpoint — the panels hold bfloat16; when
// every value is a binary16 number (weights of an F16 checkpoint) they
// hold binary16: half the memory, the same products (widening either to
// float32 is exact).
func Pack(w []float32, n, k int) *Packed {
	if len(w) != n*k {
		panic(fmt.Sprintf("kernel.Pack: len(w) = %d, want %d×%d", len(w), n, k))
	}
	if k == 0 {
		return packFor(active, func(int) ([]float32, int) { return nil, 1 }, n, 0, F32)
	}
	return PackRows(k, w)
}

// PackRows packs the matrix whose rows are those of parts, in order (each
// row-major with k columns) — as Pack of their concatenation, without
// making it (q, k and v, or gate and up, packed as one matrix).
func PackRows(k int, parts ...[]float32) *Packed {
	n := 0
	for _, p := range parts {
		if k == 0 || len(p)%k != 0 {
			panic(fmt.Sprintf("kernel.PackRows: a part of %d values is not whole rows of %d", len(p), k))
		}
		n += len(p) / k
	}
	row := func(r int) ([]float32, int) {
		for _, p := range parts {
			if rows := len(p) / k; r >= rows {
				r -= rows
				continue
			}
			return p[r*k:], 1
		}
		panic("kernel.PackRows: row out of range")
	}
	all := func(exact func([]float32) bool) bool {
		for _, p := range parts {
			if !exact(p) {
				return false
			}
		}
		return true
	}
	switch {
	case active.pairs:
		return packPairs(row, n, k, active.nr)
	case active.half && all(bf16.Exact):
		return packFor(active, row, n, k, BF16)
	case active.half && all(f16.Exact):
		return packFor(active, row, n, k, F16)
	}
	return packFor(active, row, n, k, F32)
}

// Format is how a matrix's values come: float32, or the 16 bits of a BF16
// or F16 checkpoint.
type Format uint8

// The formats values come in (pooledF32 is float32 packed into pooled
// memory).
const (
	F32 Format = iota
	BF16
	F16
	pooledF32 // float32 in memory from GetFloats (padding cleared)
)

// String is the format's safetensors dtype name.
func (f Format) String() string {
	switch f {
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	}
	return "F32"
}

// NewPacked returns an n×k matrix of zeros laid out for the active kernel
// to take values of format src (BF16 or F16) through SetRows16, a block
// of rows at a time: a BF16 checkpoint's tensor goes into its panels
// without a float32 copy (a 1B model's embeddings are 1 GB as float32,
// 0.5 GB in panels). Kernels that keep 16-bit weights store the values as
// they are; the bfloat16 compute kernel pairs them (binary16 rounded to
// bfloat16, as Pack does); the others widen them to float32.
func NewPacked(n, k int, src Format) *Packed {
	if src != BF16 && src != F16 || n < 0 || k <= 0 {
		panic(fmt.Sprintf("kernel.NewPacked(%d, %d, %v): a 16-bit format and k > 0", n, k, src))
	}
	nr := active.nr
	panels := (n + nr - 1) / nr
	p := &Packed{N: n, K: k, nr: nr, stride: k, in: src}
	switch {
	case active.pairs:
		p.stride, p.pairs = (k+1)/2, true
		p.half = make([]uint16, panels*p.stride*nr*2)
	case active.half:
		p.f16, p.half = src == F16, make([]uint16, panels*k*nr)
	default:
		p.data = make([]float32, panels*k*nr)
	}
	return p
}

// PackedBytes is the memory an n×k matrix of values of format src takes
// packed for the active kernel (float32 values that happen to be bfloat16
// numbers, which Pack keeps in 16 bits, count as float32).
func PackedBytes(n, k int, src Format) int64 {
	nr := int64(active.nr)
	panels := (int64(n) + nr - 1) / nr
	switch {
	case active.pairs:
		return panels * int64((k+1)/2) * nr * 4
	case active.half && (src == BF16 || src == F16):
		return panels * int64(k) * nr * 2
	}
	return panels * int64(k) * nr * 4
}

// SetRows16 stores rows r0, r0+1, … of W from v: whole rows of K values,
// row-major, in the format NewPacked was given.
func (p *Packed) SetRows16(r0 int, v []uint16) {
	if p.in != BF16 && p.in != F16 || len(v)%p.K != 0 || r0 < 0 || r0+len(v)/p.K > p.N {
		panic(fmt.Sprintf("kernel.Packed.SetRows16(%d, %d values) of a %d×%d %v matrix", r0, len(v), p.N, p.K, p.in))
	}
	k, nr, f16in := p.K, p.nr, p.in == F16
	parallel.For(len(v)/k, max(1, 1<<16/k), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src := v[r*k : (r+1)*k]
			pi, j := (r0+r)/nr, (r0+r)%nr
			switch {
			case p.pairs:
				dst := p.half[pi*p.stride*nr*2:]
				for c, h := range src {
					if f16in {
						h = bf16.FromFloat32(f16.ToFloat32(h))
					}
					dst[(c/2)*nr*2+j*2+c%2] = h
				}
			case p.half != nil:
				dst := p.half[pi*k*nr:]
				for c, h := range src {
					dst[c*nr+j] = h
				}
			case f16in:
				dst := p.data[pi*k*nr:]
				for c, h := range src {
					dst[c*nr+j] = f16.ToFloat32(h)
				}
			default:
				dst := p.data[pi*k*nr:]
				for c, h := range src {
					dst[c*nr+j] = bf16.ToFloat32(h)
				}
			}
		}
	})
}

// PackStrided packs the matrix whose element (r, c) is src[r*rs + c*cs],
// in float32 (activations: attention's keys and values, which stay float32
// with every kernel), in pooled memory: Recycle gives it back.
func PackStrided(src []float32, n, k, rs, cs int) *Packed {
	return packFor(active, func(r int) ([]float32, int) { return src[r*rs:], cs }, n, k, pooledF32)
}

// packPairs lays W out for the BF16 dot-product kernel: each value rounded
// to the nearest bfloat16 (ties to even), k taken in pairs, an odd K padded
// with zero.
func packPairs(row func(r int) ([]float32, int), n, k, nr int) *Packed {
	kp := (k + 1) / 2
	panels := (n + nr - 1) / nr
	p := &Packed{N: n, K: k, nr: nr, stride: kp, pairs: true, half: make([]uint16, panels*kp*nr*2)}
	parallel.For(n, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pi, j := r/nr, r%nr
			dst := p.half[pi*kp*nr*2:]
			src, cs := row(r)
			for c := 0; c < k; c++ {
				dst[(c/2)*nr*2+j*2+c%2] = bf16.FromFloat32(src[c*cs])
			}
		}
	})
	return p
}

// HalfWeights says whether the active kernel keeps bfloat16 and binary16
// weights in 16 bits.
func HalfWeights() bool { return active.half }

// Half says whether p holds 16-bit panels (bfloat16 or binary16).
func (p *Packed) Half() bool { return p.half != nil }

// packFor packs n rows of k values for im; row(r) gives row r's values
// as src[c*cs].
func packFor(im *impl, row func(r int) ([]float32, int), n, k int, format Format) *Packed {
	nr := im.nr
	panels := (n + nr - 1) / nr
	p := &Packed{N: n, K: k, nr: nr, stride: k, f16: format == F16}
	half := format == BF16 || format == F16
	switch {
	case half:
		p.half = make([]uint16, panels*k*nr)
	case format == pooledF32:
		p.data = GetFloats(panels * k * nr)
		if last := n - (panels-1)*nr; last < nr && panels > 0 { // zero the last panel's padding rows
			dst := p.data[(panels-1)*k*nr:]
			for c := 0; c < k; c++ {
				clear(dst[c*nr+last : (c+1)*nr])
			}
		}
	default:
		p.data = make([]float32, panels*k*nr)
	}
	work := func(plo, phi int) {
		for pi := plo; pi < phi; pi++ {
			for j := 0; j < nr; j++ {
				r := pi*nr + j
				if r >= n {
					break
				}
				src, cs := row(r)
				if half {
					dst := p.half[pi*k*nr : (pi+1)*k*nr]
					for c := 0; c < k; c++ {
						if p.f16 {
							dst[c*nr+j] = f16.FromFloat32(src[c*cs])
						} else {
							dst[c*nr+j] = uint16(math.Float32bits(src[c*cs]) >> 16)
						}
					}
					continue
				}
				dst := p.data[pi*k*nr : (pi+1)*k*nr]
				for c := 0; c < k; c++ {
					dst[c*nr+j] = src[c*cs]
				}
			}
		}
	}
	if n*k < 1<<20 { // attention's keys and values: small, and already one per core
		work(0, panels)
	} else {
		parallel.For(panels, 4, work)
	}
	return p
}

// Row copies row r of W (its K values) into dst, widening 16-bit panels:
// the embedding lookup of a tied model reads its packed lm_head this way,
// so the table is held once.
func (p *Packed) Row(r int, dst []float32) {
	pi, j := r/p.nr, r%p.nr
	dst = dst[:p.K]
	switch {
	case p.pairs:
		src := p.half[pi*p.stride*p.nr*2:]
		for k := range dst {
			dst[k] = math.Float32frombits(uint32(src[(k/2)*p.nr*2+j*2+k%2]) << 16)
		}
	case p.half != nil:
		src := p.half[pi*p.stride*p.nr:]
		for k := range dst {
			dst[k] = p.widen(src[k*p.nr+j])
		}
	default:
		src := p.data[pi*p.stride*p.nr:]
		for k := range dst {
			dst[k] = src[k*p.nr+j]
		}
	}
}

// widen is a 16-bit panel value as float32 (exact).
func (p *Packed) widen(h uint16) float32 {
	if p.f16 {
		return f16.ToFloat32(h)
	}
	return math.Float32frombits(uint32(h) << 16)
}
