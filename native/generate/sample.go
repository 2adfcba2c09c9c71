// Package generate turns an engine net into text: prompts prefilled in one
// batch and decoded together with KV caches, the next token chosen by
// greedy argmax or by sampling (temperature, top-k, top-p, min-p,
// repetition penalty, a seed), stop strings matched across token
// boundaries and cut from the output, end-of-sequence ids, and text
// streamed so that no broken character is ever printed and the streamed
// text equals the decoded whole.
package generate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gptailor/gptailor/native/engine"
)

// Sampling chooses the next token from logits. The zero value (with
// TopP 0 meaning 1 and RepeatPenalty 0 meaning 1) is greedy.
type Sampling struct {
	Temperature   float64 // 0: greedy (argmax)
	TopK          int     // keep the K most likely (0: all)
	TopP          float64 // keep the smallest set whose probability reaches P (0 or 1: all)
	MinP          float64 // drop tokens less likely than MinP × the most likely's probability
	RepeatPenalty float64 // divide positive logits (multiply negative ones) of tokens seen so far (0 or 1: off)
	Seed          uint64
}

// Check names the flag of a value out of range.
func (s Sampling) Check() error {
	var errs []error
	if !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0) {
		errs = append(errs, fmt.Errorf("--temperature %g: must be 0 (greedy) or more", s.Temperature))
	}
	if s.TopK < 0 {
		errs = append(errs, fmt.Errorf("--top-k %d: must be 0 (off) or more", s.TopK))
	}
	if s.TopP != 0 && !(s.TopP > 0 && s.TopP <= 1) {
		errs = append(errs, fmt.Errorf("--top-p %g: must be in (0, 1]", s.TopP))
	}
	if !(s.MinP >= 0 && s.MinP < 1) {
		errs = append(errs, fmt.Errorf("--min-p %g: must be in [0, 1)", s.MinP))
	}
	if s.RepeatPenalty != 0 && !(s.RepeatPenalty > 0) || math.IsInf(s.RepeatPenalty, 0) {
		errs = append(errs, fmt.Errorf("--repeat-penalty %g: must be more than 0 (1: off)", s.RepeatPenalty))
	}
	return errors.Join(errs...)
}

// Greedy says whether s always takes the argmax.
func (s Sampling) Greedy() bool { return s.Temperature == 0 }

// sampler is one sequence's sampling state: its random stream and the
// tokens the repetition penalty looks at.
type sampler struct {
	s     Sampling
	rng   *rand.Rand
	seen  map[int]bool
	cand  []cand
	probs []float64
}

type cand struct {
	id int
	p  float64
}

// newSampler starts sequence i's stream: the same seed and index give the
// same draws, whatever else runs in the batch.
func newSampler(s Sampling, i int, prompt []int) *sampler {
	sm := &sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, uint64(i)))}
	if s.RepeatPenalty != 0 && s.RepeatPenalty != 1 {
		sm.seen = map[int]bool{}
		for _, t := range prompt {
			sm.seen[t] = true
		}
	}
	return sm
}

// next picks a token from logits (which it may change) and remembers it.
func (sm *sampler) next(logits []float32) int {
	if sm.seen != nil {
		// As transformers' RepetitionPenaltyLogitsProcessor: every token in
		// the prompt or generated so far, once.
		r := float32(sm.s.RepeatPenalty)
		for t := range sm.seen {
			if logits[t] > 0 {
				logits[t] /= r
			} else {
				logits[t] *= r
			}
		}
	}
	tok := sm.pick(logits)
	if sm.seen != nil {
		sm.seen[tok] = true
	}
	return tok
}

// pick applies temperature, then top-k, top-p and min-p (transformers'
// order of logits warpers) and draws from what is left.
func (sm *sampler) pick(logits []float32) int {
	s := sm.s
	if s.Greedy() {
		return engine.Argmax(logits)
	}
	// Probabilities at temperature T, unnormalised (the largest is 1), in
	// a buffer kept across steps. math.Exp, not the kernels' vector exp:
	// the same seed must draw the same tokens on every kernel.
	mx := float64(logits[engine.Argmax(logits)])
	inv := 1 / s.Temperature
	if cap(sm.probs) < len(logits) {
		sm.probs = make([]float64, len(logits))
	}
	probs := sm.probs[:len(logits)]
	var z float64
	for i, l := range logits {
		p := math.Exp((float64(l) - mx) * inv)
		probs[i] = p
		z += p
	}
	if (s.TopP == 0 || s.TopP == 1) && s.TopK == 0 && s.MinP == 0 {
		// Temperature alone keeps every token: draw in id order, no sort.
		u := sm.rng.Float64() * z
		for i, p := range probs {
			u -= p
			if u < 0 {
				return i
			}
		}
		return len(probs) - 1
	}
	// The candidates: every token, or only those that can be in the top k
	// or the nucleus. A token less likely than a threshold t cannot be in
	// the nucleus when the tokens at or above t already hold TopP, so only
	// those are sorted (not the whole vocabulary).
	topP := s.TopP
	if topP == 0 {
		topP = 1
	}
	threshold := 0.0
	switch {
	case topP < 1 || s.TopK > 0:
		for threshold = 1e-1; threshold > 1e-300; threshold *= 1e-1 {
			var held float64
			n := 0
			for _, p := range probs {
				if p >= threshold {
					held += p
					n++
				}
			}
			if (topP == 1 || held >= topP*z) && n >= s.TopK || n == len(probs) {
				break
			}
		}
	case s.MinP > 0:
		threshold = s.MinP // the most likely token's p is 1
	}
	c := sm.cand[:0]
	for i, p := range probs {
		if p >= threshold && p > 0 {
			c = append(c, cand{i, p})
		}
	}
	slices.SortFunc(c, func(a, b cand) int {
		switch {
		case a.p > b.p:
			return -1
		case a.p < b.p:
			return 1
		}
		return a.id - b.id
	})
	if s.TopK > 0 && len(c) > s.TopK {
		c = c[:s.TopK]
	}
	if topP < 1 {
		// transformers' TopP: drop the tokens whose cumulative probability,
		// ascending, stays at or below 1 − P (at least one is kept). After
		// a top-k cut the probabilities are over the k; without one the
		// tokens below the threshold come first in the ascending sum.
		var held float64
		for _, x := range c {
			held += x.p
		}
		total, cum := z, z-held
		if s.TopK > 0 && len(c) == s.TopK {
			total, cum = held, 0
		}
		keep := len(c)
		for i := len(c) - 1; i > 0; i-- {
			cum += c[i].p
			if cum/total > 1-topP {
				break
			}
			keep = i
		}
		c = c[:keep]
	}
	if s.MinP > 0 && len(c) > 0 {
		lim := s.MinP * c[0].p
		k := 1
		for k < len(c) && c[k].p >= lim {
			k++
		}
		c = c[:k]
	}
	sm.cand = c
	var sum float64
	for _, x := range c {
		sum += x.p
	}
	u := sm.rng.Float64() * sum
	for _, x := range c {
		u -= x.p
		if u < 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}
