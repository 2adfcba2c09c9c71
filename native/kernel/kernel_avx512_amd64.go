package kernel

import (
	"unsafe"

	"github.com/gptailor/gptailor/native/bf16"
	"golang.org/x/sys/cpu"
)

// The AVX-512F micro-kernels of kernel_amd64.s (see gen_amd64.go): rows×32
// tiles over up to 12 rows of A read in place and 32-column W panels,
// float32, bfloat16 or binary16.

//go:noescape
func kern1x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern1x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern2x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern2x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern3x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern3x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern4x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern4x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern5x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern5x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern7x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern7x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern8x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern8x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern9x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern9x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern10x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern10x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern11x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern11x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern12x32(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern12x32bf16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern1x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern2x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern3x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern4x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern5x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern7x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern8x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern9x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern10x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern11x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern12x32f16(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

// kern512 is the signature of the AVX-512F kernels: A read in place.
type kern512 func(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

var kerns512f16 = [13]kern512{
	nil, kern1x32f16, kern2x32f16, kern3x32f16, kern4x32f16, kern5x32f16, kern6x32f16, kern7x32f16, kern8x32f16, kern9x32f16, kern10x32f16, kern11x32f16, kern12x32f16,
}

var kerns512 = [13]kern512{
	nil, kern1x32, kern2x32, kern3x32, kern4x32, kern5x32, kern6x32, kern7x32, kern8x32, kern9x32, kern10x32, kern11x32, kern12x32,
}

var kerns512bf16 = [13]kern512{
	nil, kern1x32bf16, kern2x32bf16, kern3x32bf16, kern4x32bf16, kern5x32bf16, kern6x32bf16, kern7x32bf16, kern8x32bf16, kern9x32bf16, kern10x32bf16, kern11x32bf16, kern12x32bf16,
}

func microAVX512(rows, kc int, a []float32, lda int, w *Packed, boff int, c []float32, ldc int, acc bool) {
	// Bounds the assembly relies on, checked once here.
	_ = a[(rows-1)*lda+kc-1]
	_ = c[(rows-1)*ldc+31]
	f := 0
	if acc {
		f = 1
	}
	if w.half != nil {
		b := w.half[boff : boff+kc*32]
		ks := &kerns512bf16
		if w.f16 {
			ks = &kerns512f16
		}
		ks[rows](kc, &a[0], lda, (*float32)(unsafe.Pointer(&b[0])), &c[0], ldc, f)
		return
	}
	b := w.data[boff : boff+kc*32]
	kerns512[rows](kc, &a[0], lda, &b[0], &c[0], ldc, f)
}

//go:noescape
func fmaPeakAVX2(n int)

//go:noescape
func fmaPeakAVX512(n int)

//go:noescape
func dpPeakAVX512BF16(n int)

//go:noescape
func kern1x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern2x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern3x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern4x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern5x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern7x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern8x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern9x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern10x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern11x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

//go:noescape
func kern12x32dp(kp int, a *float32, lda int, b, c *float32, ldc int, acc int)

var kernsDP = [13]kern512{
	nil, kern1x32dp, kern2x32dp, kern3x32dp, kern4x32dp, kern5x32dp, kern6x32dp, kern7x32dp, kern8x32dp, kern9x32dp, kern10x32dp, kern11x32dp, kern12x32dp,
}

// microDPBF16 runs the VDPBF16PS kernels over kp pairs of k; a holds A's
// rows as bfloat16 pairs (one 32-bit word per pair, see toPairs), rows lda
// words apart.
func microDPBF16(rows, kp int, a []float32, lda int, w *Packed, boff int, c []float32, ldc int, acc bool) {
	_ = a[(rows-1)*lda+kp-1]
	_ = c[(rows-1)*ldc+31]
	b := w.half[boff : boff+kp*64]
	f := 0
	if acc {
		f = 1
	}
	kernsDP[rows](kp, &a[0], lda, (*float32)(unsafe.Pointer(&b[0])), &c[0], ldc, f)
}

//go:noescape
func bf16RoundAVX512(dst *uint16, src *float32, n int)

// roundRow writes src rounded to bfloat16 to dst, as bf16.FromFloat32.
func roundRow(dst []uint16, src []float32) {
	n16 := len(src) &^ 15
	if n16 > 0 && cpu.X86.HasAVX512F {
		_ = dst[len(src)-1]
		bf16RoundAVX512(&dst[0], &src[0], n16)
	} else {
		n16 = 0
	}
	for c := n16; c < len(src); c++ {
		dst[c] = bf16.FromFloat32(src[c])
	}
}

// fmaPeak runs n iterations of 14 register-only FMAs (VDPBF16PS for
// avx512bf16) with the widest vectors the named kernel uses, and returns
// the flops done (0 when the kernel has no such loop).
func fmaPeak(kernel string, n int) float64 {
	switch kernel {
	case "avx512":
		fmaPeakAVX512(n)
		return float64(n) * 14 * 16 * 2
	case "avx512bf16":
		dpPeakAVX512BF16(n)
		return float64(n) * 14 * 16 * 4
	case "avx2":
		fmaPeakAVX2(n)
		return float64(n) * 14 * 8 * 2
	}
	return 0
}
