package search

import (
	"fmt"
	"math/rand/v2"
)

// Complete returns c with its MLP genes filled in block granularity (a
// config made for whole layers — a warm start, a baseline's removal —
// gives each MLP its layer's removal and subset); c itself otherwise.
func (s *Space) Complete(c *Config) *Config {
	if !s.Blocks || c.MLPRemoved != nil {
		return c
	}
	c = c.Clone()
	c.MLPRemoved = append([]bool(nil), c.Removed...)
	c.MLPSubset = append([]uint32(nil), c.Subset...)
	return c
}

// blockSize is the parameter count of sub-block k (k/2 is the layer; even:
// attention, odd: MLP).
func (s *Space) blockSize(k int) int64 {
	if k%2 == 0 {
		return s.AttnParams
	}
	return s.MLPParams
}

func blockRemoved(c *Config, k int) bool {
	if k%2 == 0 {
		return c.Removed[k/2]
	}
	return c.MLPRemoved[k/2]
}

func setBlock(c *Config, k int, removed bool) {
	if k%2 == 0 {
		c.Removed[k/2] = removed
	} else {
		c.MLPRemoved[k/2] = removed
	}
}

// RemovedParams is what a block-granularity config removes.
func (s *Space) RemovedParams(c *Config) int64 {
	c = s.Complete(c)
	var n int64
	for k := 0; k < 2*s.Layers; k++ {
		if blockRemoved(c, k) {
			n += s.blockSize(k)
		}
	}
	return n
}

// toTarget removes kept sub-blocks in random order (never the one in
// keep, -1: none) until the config removes at least RemoveParams, then
// restores, in random order, removed sub-blocks it can do without.
func (s *Space) toTarget(c *Config, r *rand.Rand, keep int) {
	have := s.RemovedParams(c)
	for _, k := range r.Perm(2 * s.Layers) {
		if have >= s.RemoveParams {
			break
		}
		if k != keep && !blockRemoved(c, k) {
			setBlock(c, k, true)
			have += s.blockSize(k)
		}
	}
	for _, k := range r.Perm(2 * s.Layers) {
		if blockRemoved(c, k) && have-s.blockSize(k) >= s.RemoveParams {
			setBlock(c, k, false)
			have -= s.blockSize(k)
		}
	}
}

// randomBlocks draws the removal of a block-granularity config.
func (s *Space) randomBlocks(c *Config, r *rand.Rand) {
	c.MLPRemoved = make([]bool, s.Layers)
	c.MLPSubset = make([]uint32, s.Layers)
	clear(c.Removed)
	s.toTarget(c, r, -1)
	for i := range c.MLPSubset {
		switch {
		case s.removalOnly():
		case s.selectionOnly():
			if k := r.IntN(len(s.FineTunes) + 1); k > 0 {
				c.MLPSubset[i] = 1 << (k - 1)
			}
		default:
			c.MLPSubset[i] = uint32(r.IntN(1 << len(s.FineTunes)))
		}
	}
}

// swapBlock restores one removed sub-block and removes others to meet the
// target again.
func (s *Space) swapBlock(c *Config, r *rand.Rand) {
	var removed []int
	for k := 0; k < 2*s.Layers; k++ {
		if blockRemoved(c, k) {
			removed = append(removed, k)
		}
	}
	if len(removed) == 0 {
		return
	}
	k := removed[r.IntN(len(removed))]
	setBlock(c, k, false)
	s.toTarget(c, r, k)
}

func (s *Space) validateBlocks() error {
	if !s.Blocks {
		return nil
	}
	if s.AttnParams <= 0 || s.MLPParams <= 0 {
		return fmt.Errorf("block granularity needs the sub-blocks' parameter counts")
	}
	if total := int64(s.Layers) * (s.AttnParams + s.MLPParams); s.RemoveParams >= total {
		return fmt.Errorf("removing %d parameters of the layers' %d leaves no sub-block", s.RemoveParams, total)
	}
	return nil
}
