package merge

import (
	"sort"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

// The engine implements exactly the registry's methods: a method added to
// plan's registry without an implementation here, or implemented here
// without a registry entry (so no plan could name it), fails.
func TestEngineImplementsTheRegistry(t *testing.T) {
	var impl []string
	for m := range funcs {
		impl = append(impl, m)
	}
	sort.Strings(impl)
	reg := plan.MethodNames()
	if len(impl) != len(reg) {
		t.Fatalf("engine implements %v, the registry lists %v", impl, reg)
	}
	for i := range reg {
		if impl[i] != reg[i] {
			t.Fatalf("engine implements %v, the registry lists %v", impl, reg)
		}
	}
	// Elementwise in the registry is a promise the engine keeps: merging a
	// tensor in two halves gives the whole merge's result.
	base := []float32{0.1, -0.4, 0.7, 1.2, -0.3, 0.05}
	a := []float32{0.3, -0.1, 0.2, 1.0, -0.6, 0.25}
	b := []float32{-0.2, 0.5, 0.9, 0.8, 0.1, -0.15}
	for _, name := range reg {
		info, _ := plan.LookupMethod(name)
		if !info.Elementwise {
			continue
		}
		models := [][]float32{a, b}
		if info.MaxModels == 1 {
			models = models[:1]
		}
		in := Input{Name: "t", Base: base, Models: models, Params: plan.Params{Lambda: plan.Ptr(0.7)}}
		whole, err := Tensor(name, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, half := range [][2]int{{0, 3}, {3, 6}} {
			part := Input{Name: "t", Base: base[half[0]:half[1]], Params: in.Params}
			for _, m := range models {
				part.Models = append(part.Models, m[half[0]:half[1]])
			}
			got, err := Tensor(name, part)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for i, v := range got {
				if v != whole[half[0]+i] {
					t.Errorf("%s is registered elementwise, but entry %d merged alone is %v, in the whole tensor %v", name, half[0]+i, v, whole[half[0]+i])
				}
			}
		}
	}
}
