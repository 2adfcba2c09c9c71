package search

import (
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

// Every method the registry marks searchable is one the search's genes
// really produce (on a layer with one fine-tune or with two), and a space
// listing any other method is refused: marking a method searchable in the
// registry without teaching recipe to build it fails here.
func TestSearchableMethodsAreBuilt(t *testing.T) {
	for _, name := range plan.MethodNames() {
		info, _ := plan.LookupMethod(name)
		s := &Space{Layers: 3, Remove: 1, FineTunes: []string{"code", "docs"}, Methods: []string{name}}
		err := s.Validate()
		if !info.Searchable {
			if err == nil {
				t.Errorf("%s is not searchable, yet a space listing it is accepted", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := &Config{Removed: []bool{false, false, true}, Subset: []uint32{1, 3, 0}, Lambda: []float64{0.3, 0.3, 0.3}, Method: []int{0, 0, 0}}
		built := false
		for i := 0; i < 2; i++ {
			slot, _ := s.recipe(c, i, c.Subset[i])
			if slot.Merge != nil && slot.Merge.Method == name {
				built = true
			}
		}
		if !built {
			t.Errorf("%s is registered searchable, but no layer's genes build a %s merge", name, name)
		}
	}
}
