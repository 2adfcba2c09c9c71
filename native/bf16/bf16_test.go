package bf16

import (
	"math"
	"testing"
)

func TestRounding(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0}, {float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.MaxFloat32, 0x7f80},                  // overflows to +Inf
	} {
		if got := FromFloat32(c.in); got != c.want {
			t.Errorf("%v: %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if x := ToFloat32(FromFloat32(float32(math.NaN()))); x == x {
		t.Error("NaN became a number")
	}
	v := []float32{1.0000001, 3}
	if Exact(v) {
		t.Error("1.0000001 is not a bfloat16")
	}
	Round(v)
	if !Exact(v) || v[0] != 1 || v[1] != 3 {
		t.Errorf("rounded %v", v)
	}
}
