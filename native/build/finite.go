package build

import (
	"fmt"
	"math"

	"github.com/gptailor/gptailor/native/safetensors"
)

// f16Max is float16's largest finite value; bf16Max bfloat16's.
const (
	f16Max  = 65504
	bf16Max = 3.3895313892515355e38
)

// checkFinite refuses a tensor with values that are not finite or that the
// output dtype cannot hold (they would be written as ±Inf: a task
// arithmetic merge with λ 1e6 in f16 wrote 301 of them and "succeeded").
// The writer names the tensor.
func checkFinite(v []float32, dt safetensors.DType) error {
	limit := math.Inf(1)
	switch dt {
	case safetensors.F16:
		limit = f16Max
	case safetensors.BF16:
		limit = bf16Max
	}
	bad, first := 0, -1
	for i, x := range v {
		a := math.Abs(float64(x))
		if math.IsNaN(a) || math.IsInf(a, 0) || a > limit {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	if math.IsInf(limit, 1) {
		return fmt.Errorf("%d of %d values are not finite (the first, at %d, is %v): the plan's merge scales or λ overflow float32", bad, len(v), first, v[first])
	}
	return fmt.Errorf("%d of %d values are beyond %s's range ±%g (the first, at %d, is %v): lower the plan's merge scales or λ, or build in f32", bad, len(v), dt, limit, first, v[first])
}
