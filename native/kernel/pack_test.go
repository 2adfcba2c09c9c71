package kernel

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/f16"
)

// A matrix filled from 16-bit values by SetRows16, in blocks of rows given
// out of order, holds exactly what Pack makes of the same values widened
// to float32 — on every kernel (16-bit panels as they are, pairs for the
// bfloat16 compute kernel, float32 panels elsewhere), for BF16 and F16,
// at shapes that end mid-panel and with odd K.
func TestSetRows16EqualsPack(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, src := range []Format{BF16, F16} {
			for _, shape := range [][2]int{{1, 1}, {70, 33}, {65, 64}, {129, 17}} {
				n, k := shape[0], shape[1]
				h := make([]uint16, n*k)
				w := make([]float32, n*k)
				for i, x := range randSlice(r, n*k) {
					if src == F16 {
						h[i] = f16.FromFloat32(x)
						w[i] = f16.ToFloat32(h[i])
					} else {
						h[i] = bf16.FromFloat32(x)
						w[i] = bf16.ToFloat32(h[i])
					}
				}
				if src == F16 { // 1 + 2⁻¹⁰: binary16 but not bfloat16, so Pack keeps binary16
					h[0], w[0] = 0x3c01, f16.ToFloat32(0x3c01)
				}
				p := NewPacked(n, k, src)
				// rows [n/2, n), then [0, 1), then [1, n/2)
				p.SetRows16(n/2, h[n/2*k:])
				p.SetRows16(0, h[:min(1, n/2)*k])
				if n/2 > 1 {
					p.SetRows16(1, h[k:n/2*k])
				}
				want := Pack(w, n, k)
				if PackedBytes(n, k, src) != p.Bytes() || PackedBytes(n, k, F32) != Pack(randSlice(r, n*k), n, k).Bytes() {
					t.Fatalf("%v %d×%d: PackedBytes %d (F32 %d), packed %d", src, n, k, PackedBytes(n, k, src), PackedBytes(n, k, F32), p.Bytes())
				}
				if p.pairs != want.pairs || p.Half() != want.Half() || p.stride != want.stride || p.nr != want.nr ||
					!slices.Equal(p.data, want.data) || !slices.Equal(p.half, want.half) {
					t.Fatalf("%v %d×%d: SetRows16 (pairs %v, half %v, f16 %v) differs from Pack (pairs %v, half %v, f16 %v)",
						src, n, k, p.pairs, p.Half(), p.f16, want.pairs, want.Half(), want.f16)
				}
				if p.Half() && !p.pairs && p.f16 != (src == F16) {
					t.Fatalf("%v %d×%d: 16-bit panels marked binary16 = %v", src, n, k, p.f16)
				}
				if p.Half() != (HalfWeights() || ComputeBF16()) {
					t.Fatalf("%v: 16-bit panels %v on a kernel keeping 16-bit weights %v", src, p.Half(), HalfWeights())
				}
				row := make([]float32, k)
				p.Row(n-1, row)
				for c := range row {
					if got, ok := row[c], w[(n-1)*k+c]; got != ok && !p.pairs {
						t.Fatalf("%v %d×%d: Row(%d)[%d] = %g, want %g", src, n, k, n-1, c, got, ok)
					}
				}
			}
		}
	})
}
