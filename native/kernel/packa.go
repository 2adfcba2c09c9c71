package kernel

import (
	"math"
	"unsafe"

	"github.com/gptailor/gptailor/native/bf16"
)

// The A side of a GEMM: the packed panels the AVX2 and portable kernels
// read, and the bfloat16 pairs the VDPBF16PS kernels read.

// steps is how many k steps a kernel takes for K: K, or its pairs.
func (im *impl) steps(k int) int {
	if im.pairs {
		return (k + 1) / 2
	}
	return k
}

func (im *impl) packA(ap, a []float32, lda, m, k, mr, lo, hi int) {
	if im.pairs {
		packAPairs(ap, a, lda, m, k, mr, lo, hi)
		return
	}
	packA(ap, a, lda, m, k, mr, lo, hi)
}

// toPairs writes rows [lo, hi) of A (k values, rows lda apart) to dst as
// bfloat16, row-major with kp = ⌈k/2⌉ words a row: each word the pair
// (k, k+1), an odd k padded with zero — what the VDPBF16PS kernels read.
func toPairs(dst, a []float32, lda, k, lo, hi int) {
	kp := (k + 1) / 2
	if hi <= lo {
		return
	}
	all := unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), 2*len(dst))
	for r := lo; r < hi; r++ {
		out := all[2*r*kp : 2*(r+1)*kp]
		roundRow(out, a[r*lda:r*lda+k])
		if k%2 == 1 {
			out[k] = 0
		}
	}
}

// packAPairs packs A's panels as pairs of bfloat16 (k, k+1) per row, each
// pair in the bits of one float32 slot, zero-padded.
func packAPairs(ap, a []float32, lda, m, k, mr, lo, hi int) {
	kp := (k + 1) / 2
	for mp := lo; mp < hi; mp++ {
		dst := ap[mp*kp*mr : (mp+1)*kp*mr]
		clear(dst)
		r0, rows := panelRows(m, mr, mp)
		for i := 0; i < rows; i++ {
			src := a[(r0+i)*lda : (r0+i)*lda+k]
			for c := 0; c+1 < k; c += 2 {
				dst[(c/2)*mr+i] = math.Float32frombits(uint32(bf16.FromFloat32(src[c])) | uint32(bf16.FromFloat32(src[c+1]))<<16)
			}
			if k%2 == 1 {
				dst[(k/2)*mr+i] = math.Float32frombits(uint32(bf16.FromFloat32(src[k-1])))
			}
		}
	}
}

// packA packs A's mr-row panels [lo, hi) k-major, zero-padding short panels.
func packA(ap, a []float32, lda, m, k, mr, lo, hi int) {
	for mp := lo; mp < hi; mp++ {
		dst := ap[mp*k*mr : (mp+1)*k*mr]
		r0, rows := panelRows(m, mr, mp)
		for i := 0; i < rows; i++ {
			src := a[(r0+i)*lda : (r0+i)*lda+k]
			for kk, v := range src {
				dst[kk*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for kk := 0; kk < k; kk++ {
				dst[kk*mr+i] = 0
			}
		}
	}
}
