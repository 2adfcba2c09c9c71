package openai

import (
	"path/filepath"
	"testing"
)

// BenchmarkEchoScoring scores the golden windows (8 × 128 tokens of the
// stories domain, base model) through the API (echo, max_tokens 0,
// logprobs 0: request, JSON, token texts) and with the engine directly
// (what eval runs): the API's overhead.
func BenchmarkEchoScoring(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, nil)
	var g golden
	readJSON(t, filepath.Join(repoData, "golden", "nll.json"), &g)
	windows := g.Windows["stories"]
	tokens := 0
	for _, w := range windows {
		tokens += len(w)
	}
	e, _ := f.api.models.resolve("base")
	net, err := f.fam.Net(e.target)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("api", func(b *testing.B) {
		for b.Loop() {
			var out completion
			if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": windows, "max_tokens": 0, "echo": true, "logprobs": 0}, &out); code != 200 {
				b.Fatal(code)
			}
		}
		b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			if _, err := net.LogProbs(windows); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkGenerationBatching: 8 prompts in one request (decoded as one
// batch) against the same 8 sent one request at a time, 32 greedy tokens
// each.
func BenchmarkGenerationBatching(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, nil)
	prompts := []string{"Once upon a time", "The dog", "Lily was", "One day", "Tom liked", "The sun", "A little bird", "Mom said"}
	b.Run("one-request", func(b *testing.B) {
		for b.Loop() {
			var out completion
			if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": prompts, "max_tokens": 32, "temperature": 0}, &out); code != 200 {
				b.Fatal(code)
			}
		}
		b.ReportMetric(float64(32*len(prompts)*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
	b.Run("one-at-a-time", func(b *testing.B) {
		for b.Loop() {
			for _, p := range prompts {
				var out completion
				if code := f.post(t, "/v1/completions", map[string]any{"model": "base", "prompt": p, "max_tokens": 32, "temperature": 0}, &out); code != 200 {
					b.Fatal(code)
				}
			}
		}
		b.ReportMetric(float64(32*len(prompts)*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}
