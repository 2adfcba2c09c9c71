package f16

import (
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
)

func TestConversions(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, float32(math.Pow(2, -24))},
		{0x0400, float32(math.Pow(2, -14))}, {0x3555, 0.333251953125}, {0x8000, float32(math.Copysign(0, -1))},
	}
	for _, c := range cases {
		if got := ToFloat32(c.h); got != c.f {
			t.Errorf("ToFloat32(%#04x) = %g, want %g", c.h, got, c.f)
		}
		if got := FromFloat32(c.f); got != c.h {
			t.Errorf("FromFloat32(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if !math.IsInf(float64(ToFloat32(0x7c00)), 1) || !math.IsNaN(float64(ToFloat32(0x7e00))) {
		t.Error("inf/NaN")
	}
	// Every finite half survives half -> float32 -> half.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := FromFloat32(ToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("round trip %#04x -> %#04x", h, got)
		}
	}
	if FromFloat32(70000) != 0x7c00 || FromFloat32(1+1.0/4096) != 0x3c00 {
		t.Error("overflow or tie rounding wrong")
	}
	if bf16.FromFloat32(1.00390625) != 0x3f80 || bf16.FromFloat32(1.01171875) != 0x3f82 {
		t.Error("bf16 ties to even")
	}
}

// Each malformed file gets an error naming the problem and the tensor.

// Exact and Round agree with the conversions.
func TestExactAndRound(t *testing.T) {
	v := []float32{1, 0.333251953125, 65504, -2}
	if !Exact(v) {
		t.Error("binary16 numbers not exact")
	}
	w := []float32{1, 0.1}
	if Exact(w) {
		t.Error("0.1 is not a binary16 number")
	}
	Round(w)
	if !Exact(w) || w[1] != 0.0999755859375 {
		t.Errorf("rounded 0.1 to %g", w[1])
	}
}
