package search

import (
	"errors"
	"fmt"
	"math"
)

// CheckShape refuses a config whose genes do not line up (what a journal
// line changed by hand, or written by another version, may hold): every
// per-layer list as long as Removed, λ and weights finite, the MLP genes
// both present or both absent. Key and Plan index by these lengths.
func (c *Config) CheckShape() error {
	if c == nil {
		return errors.New("config is missing")
	}
	L := len(c.Removed)
	if L == 0 {
		return errors.New("config.removed is empty")
	}
	var errs []error
	same := func(field string, n int) {
		if n != L {
			errs = append(errs, fmt.Errorf("config.%s has %d entries for %d layers", field, n, L))
		}
	}
	same("subset", len(c.Subset))
	same("lambda", len(c.Lambda))
	if c.Method != nil {
		same("method", len(c.Method))
	}
	if c.Weight != nil {
		same("weights", len(c.Weight))
	}
	if c.MLPRemoved != nil || c.MLPSubset != nil {
		same("mlp_removed", len(c.MLPRemoved))
		same("mlp_subset", len(c.MLPSubset))
	}
	for i, l := range c.Lambda {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			errs = append(errs, fmt.Errorf("config.lambda[%d] is %v", i, l))
		}
	}
	for i, w := range c.Weight {
		for k, x := range w {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				errs = append(errs, fmt.Errorf("config.weights[%d][%d] is %v", i, k, x))
			}
		}
	}
	return errors.Join(errs...)
}

// Check refuses a config that is not of this space: its shape, its layer
// count, fine-tune bits past the space's fine-tunes, method indices and
// weight counts out of range, MLP genes in a layer space. Plan calls it,
// so a config read from a journal is refused with the reason instead of
// indexing past the space.
func (s *Space) Check(c *Config) error {
	if err := c.CheckShape(); err != nil {
		return err
	}
	if len(c.Removed) != s.Layers {
		return fmt.Errorf("config has %d layers, the space %d", len(c.Removed), s.Layers)
	}
	all := uint32(1)<<len(s.FineTunes) - 1
	for i := range c.Subset {
		if c.Subset[i]&^all != 0 || (c.MLPSubset != nil && c.MLPSubset[i]&^all != 0) {
			return fmt.Errorf("config layer %d names fine-tune bits %#x past the space's %d fine-tunes", i, c.Subset[i], len(s.FineTunes))
		}
	}
	for i, m := range c.Method {
		if m < 0 || m >= len(s.Methods) {
			return fmt.Errorf("config.method[%d] %d: the space has %d methods", i, m, len(s.Methods))
		}
	}
	for i, w := range c.Weight {
		if len(w) != len(s.FineTunes) && !c.Removed[i] {
			return fmt.Errorf("config.weights[%d] has %d entries for %d fine-tunes", i, len(w), len(s.FineTunes))
		}
	}
	if c.MLPRemoved != nil && !s.Blocks {
		return errors.New("config has MLP genes but the space is not of block granularity")
	}
	return nil
}
