package engine

import (
	"math"
	"runtime"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
)

// The blocked head (vocabulary blocks folded into a running log-sum-exp,
// rows in chunks) gives what whole rows of logits give: log p = logit −
// log Σ exp, here with a vocabulary of 2.5 blocks and rows over 2 chunks.
func TestTargetLogProbsEqualWholeRows(t *testing.T) {
	cfg := SyntheticConfig(64, 128, 2, 4, 2, 2*headVocab+headVocab/2+3)
	net := RandomNet(cfg, 3)
	seqs := benchWindows(cfg.VocabSize, 3, headRows/2+7)
	var targets []Target
	var rows []Row
	for s, seq := range seqs {
		for i := 0; i+1 < len(seq); i++ {
			targets = append(targets, Target{Row{s, i}, seq[i+1]})
			rows = append(rows, Row{s, i})
		}
	}
	got, err := net.TargetLogProbs(plain(seqs), targets)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(rows))
	err = net.Rows(plain(seqs), rows, func(i int, l []float32) {
		var mx float64 = math.Inf(-1)
		for _, v := range l {
			mx = max(mx, float64(v))
		}
		var s float64
		for _, v := range l {
			s += math.Exp(float64(v) - mx)
		}
		want[i] = float64(l[targets[i].Token]) - mx - math.Log(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(got[i]-want[i]))
	}
	if worst > 2e-5 || len(got) != 3*(headRows/2+6) {
		t.Fatalf("%d log-probs, max |Δ| = %g against whole rows (kernel %s)", len(got), worst, kernel.Active())
	}
	t.Logf("%d targets, max |Δ| = %.2g", len(got), worst)
	if _, err := net.TargetLogProbs(plain(seqs), []Target{{Row{0, 0}, cfg.VocabSize}}); err == nil {
		t.Error("a target outside the vocabulary was accepted")
	}
	if _, err := net.TargetLogProbs(plain(seqs), []Target{{Row{5, 0}, 1}}); err == nil {
		t.Error("a row outside the batch was accepted")
	}
}

// A batch holds at most 2,048 tokens (and 8 windows); ScoreMemory counts
// its buffers as the pool sizes them — here by hand for the 135M shape at
// 256-token windows on 2 threads: 80 MiB of activations a batch (x and xn
// 8 each, qkv 8, attention 8, gate·up 32, hidden 16), 6.125 MiB of
// attention buffers, two batches, and 3 MiB of head buffers a thread.
func TestScoreMemory(t *testing.T) {
	for seq, want := range map[int]int{128: 8, 256: 8, 512: 4, 1000: 2, 2048: 1, 4096: 1} {
		if got := batchWindows(seq); got != want {
			t.Errorf("batchWindows(%d) = %d, want %d", seq, got, want)
		}
	}
	prev := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prev)
	net := &Net{Cfg: SyntheticConfig(576, 1536, 30, 9, 3, 49152)}
	if got, want := net.ScoreMemory(256), int64(2*(80<<20+6<<20+128<<10)+6<<20); got != want {
		t.Errorf("ScoreMemory(256) = %d, want %d", got, want)
	}
}

// Bytes counts a layer used twice once, and the head.
func TestNetBytes(t *testing.T) {
	cfg := SyntheticConfig(64, 128, 3, 4, 2, 100)
	net := RandomNet(cfg, 5)
	var want int64
	for _, l := range net.Layers {
		want += l.Bytes()
	}
	want += net.Head.Bytes()
	if got := net.Bytes(); got != want || want == 0 {
		t.Fatalf("Bytes = %d, want %d", got, want)
	}
	twice := NewNet(cfg, net.Head, append(net.Layers, net.Layers[0]))
	if got := twice.Bytes(); got != want {
		t.Errorf("a repeated layer: Bytes = %d, want %d", got, want)
	}
}
