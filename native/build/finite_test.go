package build

import (
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/safetensors"
)

// Issue 22 item 11: values float16 cannot hold (a merge with λ 1e6 wrote
// 301 Inf values and build reported success) and non-finite values are
// refused, counted, with the first one.
func TestNonFiniteTensorsRefused(t *testing.T) {
	v := []float32{1, 70000, -2, float32(math.Inf(-1)), 65504}
	if err := checkFinite(v, safetensors.F16); err == nil || err.Error() != "2 of 5 values are beyond F16's range ±65504 (the first, at 1, is 70000): lower the plan's merge scales or λ, or build in f32" {
		t.Errorf("f16: %v", err)
	}
	if err := checkFinite(v, safetensors.F32); err == nil || err.Error() != "1 of 5 values are not finite (the first, at 3, is -Inf): the plan's merge scales or λ overflow float32" {
		t.Errorf("f32: %v", err)
	}
	if err := checkFinite([]float32{1, 65504, -65504}, safetensors.F16); err != nil {
		t.Errorf("in range: %v", err)
	}
}
