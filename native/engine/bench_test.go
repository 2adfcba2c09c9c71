package engine

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

func benchWindows(vocab, n, length int) [][]int {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([][]int, n)
	for i := range w {
		w[i] = make([]int, length)
		for j := range w[i] {
			w[i][j] = r.IntN(vocab)
		}
	}
	return w
}

func benchScore(b *testing.B, net *Net, windows [][]int) {
	tokens := 0
	for _, w := range windows {
		tokens += len(w) - 1
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := net.ScoreWindows(windows, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// The stories260K base on 32 windows of 256 tokens.
func BenchmarkForwardStories(b *testing.B) {
	m, err := model.Open(filepath.Join(repoData, "stories260K-base"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	net, err := NewLoader().Net(m, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchScore(b, net, benchWindows(m.Config.VocabSize, 32, 256))
}

// A SmolLM-135M-shaped net with random weights (nothing read from disk),
// with every kernel this CPU runs, float32 and BF16 weights, at 256-, 512-
// and 2048-token windows (4, 2 and 1 windows).
func BenchmarkForwardSmolLM135M(b *testing.B) {
	prev := kernel.Active()
	defer kernel.Select(prev)
	cfg := SyntheticConfig(576, 1536, 30, 9, 3, 49152)
	for _, k := range kernel.Names() {
		if ok, _ := kernel.Runnable(k); !ok || k == "generic" {
			continue
		}
		for _, w := range []string{"f32", "bf16"} {
			kernel.Select(k)
			if w == "bf16" && !kernel.HalfWeights() {
				continue
			}
			net := RandomNet(cfg, 7)
			if w == "bf16" {
				net = RandomNetBF16(cfg, 7)
			}
			for _, seq := range []int{256, 512, 2048} {
				b.Run(fmt.Sprintf("kernel=%s/weights=%s/seq=%d", k, w, seq), func(b *testing.B) {
					kernel.Select(k)
					benchScore(b, net, benchWindows(cfg.VocabSize, max(1, 1024/seq), seq))
				})
			}
		}
	}
}
