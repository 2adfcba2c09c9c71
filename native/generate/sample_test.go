package generate

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// logitsOf gives logits whose softmax is p.
func logitsOf(p ...float64) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(math.Log(v))
	}
	return out
}

// draw samples n tokens from the same logits and counts them.
func draw(s Sampling, n int, p ...float64) []int {
	sm := newSampler(s, 0, nil)
	counts := make([]int, len(p))
	for i := 0; i < n; i++ {
		counts[sm.next(logitsOf(p...))]++
	}
	return counts
}

// The warpers keep the tokens transformers' do (worked by hand from its
// rules on p = 0.5, 0.3, 0.15, 0.05) and draw in proportion among them.
func TestSamplingKeeps(t *testing.T) {
	p := []float64{0.5, 0.3, 0.15, 0.05}
	const n = 20000
	for _, c := range []struct {
		name string
		s    Sampling
		want []float64 // the probabilities after warping
	}{
		// top-p 0.7: ascending cumulative 0.05, 0.20, 0.50 ≤ 0.3 drops the two least likely
		{"top-p", Sampling{Temperature: 1, TopP: 0.7}, []float64{0.5 / 0.8, 0.3 / 0.8, 0, 0}},
		{"top-k", Sampling{Temperature: 1, TopK: 3}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		// min-p 0.35: p ≥ 0.35 × 0.5 = 0.175
		{"min-p", Sampling{Temperature: 1, MinP: 0.35}, []float64{0.5 / 0.8, 0.3 / 0.8, 0, 0}},
		// temperature 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 over 0.365
		{"temperature", Sampling{Temperature: 0.5}, []float64{0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365}},
		// top-k 3 then top-p 0.6 over the three (0.526, 0.316, 0.158): ascending 0.158 ≤ 0.4 dropped, 0.474 > 0.4 kept
		{"top-k+top-p", Sampling{Temperature: 1, TopK: 3, TopP: 0.6}, []float64{0.5 / 0.8, 0.3 / 0.8, 0, 0}},
		{"top-p keeps one", Sampling{Temperature: 1, TopP: 0.01}, []float64{1, 0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := draw(c.s, n, p...)
			for i, w := range c.want {
				f := float64(got[i]) / n
				if (w == 0) != (got[i] == 0) || math.Abs(f-w) > 4*math.Sqrt(w*(1-w)/n)+1e-9 {
					t.Fatalf("token %d drawn %.4f of the time, want %.4f (counts %v)", i, f, w, got)
				}
			}
		})
	}
}

// Greedy is the argmax; the same seed draws the same tokens, another seed
// others; sequence i's stream does not depend on the rest of the batch.
func TestSamplingDeterminism(t *testing.T) {
	l := logitsOf(0.2, 0.2, 0.2, 0.2, 0.2)
	if got := newSampler(Sampling{}, 0, nil).next(logitsOf(0.1, 0.6, 0.3)); got != 1 {
		t.Fatalf("greedy picked %d", got)
	}
	seq := func(seed uint64, i int) string {
		sm := newSampler(Sampling{Temperature: 1, Seed: seed}, i, nil)
		var b strings.Builder
		for k := 0; k < 40; k++ {
			b.WriteByte(byte('0' + sm.next(append([]float32(nil), l...))))
		}
		return b.String()
	}
	if seq(7, 0) != seq(7, 0) || seq(7, 1) != seq(7, 1) {
		t.Fatal("the same seed drew different tokens")
	}
	if seq(7, 0) == seq(8, 0) || seq(7, 0) == seq(7, 1) {
		t.Fatal("another seed or sequence drew the same 40 tokens")
	}
}

// The repetition penalty divides positive logits and multiplies negative
// ones of the tokens seen (transformers' rule), once each.
func TestRepeatPenalty(t *testing.T) {
	sm := newSampler(Sampling{RepeatPenalty: 2}, 0, []int{0, 0, 2})
	l := []float32{3, 2.5, -1, 1}
	if got := sm.next(l); got != 1 {
		t.Fatalf("picked %d, want 1 (logits after the penalty %v)", got, l)
	}
	if want := []float32{1.5, 2.5, -2, 1}; !equal(l, want) {
		t.Fatalf("logits %v, want %v", l, want)
	}
	l = []float32{3, 2.5, -1, 1}
	sm.next(l) // token 1 is now seen too
	if want := []float32{1.5, 1.25, -2, 1}; !equal(l, want) {
		t.Fatalf("second step: logits %v, want %v", l, want)
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// Values out of range are refused naming the flag.
func TestOptionsCheck(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{MaxTokens: 0}, "--max-tokens 0"},
		{Options{MaxTokens: 1, Sampling: Sampling{Temperature: -1}}, "--temperature -1"},
		{Options{MaxTokens: 1, Sampling: Sampling{TopP: 1.5}}, "--top-p 1.5: must be in (0, 1]"},
		{Options{MaxTokens: 1, Sampling: Sampling{TopP: -0.1}}, "--top-p -0.1"},
		{Options{MaxTokens: 1, Sampling: Sampling{TopK: -2}}, "--top-k -2"},
		{Options{MaxTokens: 1, Sampling: Sampling{MinP: 1}}, "--min-p 1"},
		{Options{MaxTokens: 1, Sampling: Sampling{RepeatPenalty: -1}}, "--repeat-penalty -1"},
		{Options{MaxTokens: 1, Stop: []string{"a", ""}}, "--stop #2 is empty"},
		{Options{MaxTokens: 1, Sampling: Sampling{Temperature: math.NaN()}}, "--temperature NaN"},
	} {
		err := c.o.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if err := (&Options{MaxTokens: 5, Sampling: Sampling{Temperature: 0.7, TopP: 1, TopK: 40, MinP: 0.05, RepeatPenalty: 1.1}}).Check(); err != nil {
		t.Fatal(err)
	}
}

// On a SmolLM-sized vocabulary the tokens the sampler keeps (after its
// threshold pruning) are those the warpers keep when every token is
// sorted, as transformers does.
func TestSamplingPruneKeepsWhatSortingKeeps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	logits := make([]float32, 49152)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	for _, s := range []Sampling{
		{Temperature: 0.8, TopP: 0.95}, {Temperature: 1.5, TopP: 0.5}, {Temperature: 0.7, TopK: 40},
		{Temperature: 1, TopK: 1000, TopP: 0.9}, {Temperature: 0.8, MinP: 0.05}, {Temperature: 2, TopP: 0.99, MinP: 0.01},
	} {
		sm := newSampler(s, 0, nil)
		sm.pick(append([]float32(nil), logits...))
		got := map[int]bool{}
		for _, c := range sm.cand {
			got[c.id] = true
		}
		want := sortedKeep(logits, s)
		if len(got) != len(want) {
			t.Errorf("%+v: keeps %d tokens, sorting keeps %d", s, len(got), len(want))
			continue
		}
		for _, id := range want {
			if !got[id] {
				t.Errorf("%+v: token %d kept by sorting, not by the sampler", s, id)
				break
			}
		}
	}
}

// sortedKeep applies temperature, top-k, top-p and min-p to every token,
// sorted, by transformers' rules.
func sortedKeep(logits []float32, s Sampling) []int {
	type tp struct {
		id int
		p  float64
	}
	all := make([]tp, len(logits))
	var z float64
	for i, l := range logits {
		all[i] = tp{i, math.Exp(float64(l) / s.Temperature)}
		z += all[i].p
	}
	for i := range all {
		all[i].p /= z
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].p > all[j].p })
	if s.TopK > 0 {
		all = all[:s.TopK]
		var k float64
		for _, x := range all {
			k += x.p
		}
		for i := range all {
			all[i].p /= k
		}
	}
	if s.TopP > 0 && s.TopP < 1 {
		cum, keep := 0.0, len(all)
		for i := len(all) - 1; i > 0; i-- {
			cum += all[i].p
			if cum > 1-s.TopP {
				break
			}
			keep = i
		}
		all = all[:keep]
	}
	if s.MinP > 0 {
		k := 1
		for k < len(all) && all[k].p >= s.MinP*all[0].p {
			k++
		}
		all = all[:k]
	}
	out := make([]int, len(all))
	for i, x := range all {
		out[i] = x.id
	}
	return out
}
