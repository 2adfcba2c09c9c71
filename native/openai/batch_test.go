package openai

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/server"
)

// Concurrent greedy requests for one model are decoded as one batch, and
// each gets what it gets alone.
func TestConcurrentGreedyRequestsShareABatch(t *testing.T) {
	f := newFixture(t, nil)
	prompts := []string{"Once upon a time", "The dog", "Lily was"}
	alone := make([]string, len(prompts))
	for i, p := range prompts {
		var out completion
		if code := f.post(t, "/v1/completions", map[string]any{"model": "code", "prompt": p, "max_tokens": 20, "temperature": 0, "stop": []string{"."}}, &out); code != 200 {
			t.Fatal(code)
		}
		alone[i] = out.Choices[0].Text
	}
	// Hold the queue so the three wait together.
	release, started := make(chan struct{}), make(chan struct{})
	f.srv.Submit(context.Background(), "holder", "hold", func(context.Context) { close(started); <-release })
	<-started
	got := make([]string, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out completion
			if code := f.post(t, "/v1/completions", map[string]any{"model": "code", "prompt": p, "max_tokens": 20, "temperature": 0, "stop": []string{"."}}, &out); code == 200 {
				got[i] = out.Choices[0].Text
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f.api.batch.mu.Lock()
		n := 0
		for _, l := range f.api.batch.pending {
			n += len(l)
		}
		f.api.batch.mu.Unlock()
		if n == len(prompts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting", n)
		}
	}
	close(release)
	wg.Wait()
	for i := range prompts {
		if got[i] != alone[i] {
			t.Errorf("prompt %d batched: %q, alone: %q", i, got[i], alone[i])
		}
	}
	if f.api.batch.merged != len(prompts)-1 {
		t.Errorf("%d requests answered by another's batch, want %d", f.api.batch.merged, len(prompts)-1)
	}
}

// BenchmarkConcurrentRequests: 8 clients each asking for 32 greedy
// tokens at once (merged into one batch) against the same 8 requests one
// after another.
func BenchmarkConcurrentRequests(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, func(_ *Config, s *server.Config) { s.MaxJobsPerClient = 16 })
	prompts := []string{"Once upon a time", "The dog", "Lily was", "One day", "Tom liked", "The sun", "A little bird", "Mom said"}
	body := func(p string) map[string]any {
		return map[string]any{"model": "base", "prompt": p, "max_tokens": 32, "temperature": 0, "stop": []string{"never said"}}
	}
	b.Run("concurrent", func(b *testing.B) {
		for b.Loop() {
			var wg sync.WaitGroup
			for _, p := range prompts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out completion
					f.post(t, "/v1/completions", body(p), &out)
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(32*len(prompts)*b.N)/b.Elapsed().Seconds(), "tokens/s")
		b.ReportMetric(float64(f.api.batch.merged)/float64(b.N), "merged/op")
	})
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			for _, p := range prompts {
				var out completion
				f.post(t, "/v1/completions", body(p), &out)
			}
		}
		b.ReportMetric(float64(32*len(prompts)*b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}
