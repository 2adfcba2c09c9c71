package generate

import (
	"context"
	"math/rand/v2"
	"testing"
)

// The cost of choosing one token from a SmolLM-sized vocabulary (49,152
// logits), per sampler setting: what a decode step pays on top of the
// forward pass (tens of milliseconds for the 135M shape on 2 threads).
func BenchmarkSample49152(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 49152)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	work := make([]float32, len(logits))
	for _, c := range []struct {
		name string
		s    Sampling
	}{
		{"greedy", Sampling{}},
		{"temperature", Sampling{Temperature: 0.8}},
		{"top-k=40", Sampling{Temperature: 0.8, TopK: 40}},
		{"top-p=0.95", Sampling{Temperature: 0.8, TopP: 0.95}},
		{"min-p=0.05", Sampling{Temperature: 0.8, MinP: 0.05}},
		{"repeat-penalty=1.1", Sampling{Temperature: 0.8, TopP: 0.95, RepeatPenalty: 1.1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			prompt := make([]int, 256)
			for i := range prompt {
				prompt[i] = r.IntN(len(logits))
			}
			sm := newSampler(c.s, 0, prompt)
			for i := 0; i < b.N; i++ {
				copy(work, logits)
				sm.next(work)
			}
		})
	}
}

// Generation end to end on the demo base (512-token vocabulary, 5 layers):
// prefill, decode, sampling and streaming detokenization of 8 prompts at
// once, tokens/s over every sequence's generated tokens.
func BenchmarkRunDemo(b *testing.B) {
	g := demo(b)
	prompts := make([][]int, 8)
	for i := range prompts {
		prompts[i] = g.Tok.Encode("Once upon a time", true)
	}
	for _, c := range []struct {
		name string
		s    Sampling
	}{{"greedy", Sampling{}}, {"top-p=0.95", Sampling{Temperature: 0.8, TopP: 0.95, Seed: 1}}} {
		b.Run(c.name, func(b *testing.B) {
			o := Options{Sampling: c.s, MaxTokens: 200, IgnoreEOS: true}
			n := 0
			for i := 0; i < b.N; i++ {
				res, err := g.Run(context.Background(), prompts, o, func(int, string) {})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					n += len(r.Tokens)
				}
			}
			if n != 8*200*b.N {
				b.Fatalf("%d tokens generated, want %d", n, 8*200*b.N)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
