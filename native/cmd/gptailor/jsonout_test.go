package main

import (
	"math"
	"testing"
)

// Issue 22 item 11: a NaN in eval's --json result is an error (exit 1),
// never an empty line with exit 0.
func TestFiniteJSON(t *testing.T) {
	_, err := finiteJSON(map[string]float64{"nll": math.NaN()}, false)
	if err == nil || err.Error() != "--json: the result holds NaN, which JSON cannot carry: the model's outputs are not finite numbers (a merge scale or λ too large?)" {
		t.Errorf("%v", err)
	}
	if b, err := finiteJSON(map[string]float64{"nll": 2}, true); err != nil || string(b) != "{\n  \"nll\": 2\n}" {
		t.Errorf("%s %v", b, err)
	}
}
