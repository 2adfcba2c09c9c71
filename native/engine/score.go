package engine

import (
	"math/bits"
	"runtime"
	"sync"

	"github.com/gptailor/gptailor/native/model"
)

// WindowBatch is the most windows one forward call scores together, and
// batchRows the most rows (tokens) it holds: 8 windows of 256 tokens, 4
// of 512, one of 2,048 — the activations of a batch stay bounded (60 MB
// at the 135M shape) while its GEMMs keep 2,048 rows.
const (
	WindowBatch = 8
	batchRows   = 2048
)

// batchWindows is how many windows of seq tokens a batch holds.
func batchWindows(seq int) int { return max(1, min(WindowBatch, batchRows/max(seq, 1))) }

// scoreWorkers is how many batches ScoreWindows runs at once.
func (n *Net) scoreWorkers() int { return scoreWorkers(n.Cfg) }

func scoreWorkers(c *model.Config) int {
	if c.HiddenSize < 1024 {
		return runtime.GOMAXPROCS(0)
	}
	return 1
}

// Bytes is the memory of the net's weights: every distinct layer (the
// parts of a composed one) and the head.
func (n *Net) Bytes() int64 {
	seen := map[*Layer]bool{}
	var b int64
	var add func(l *Layer)
	add = func(l *Layer) {
		if l == nil || seen[l] {
			return
		}
		seen[l] = true
		b += l.Bytes()
		for _, p := range l.parts {
			add(p)
		}
	}
	for _, l := range n.Layers {
		add(l)
	}
	return b + n.Head.Bytes()
}

// ScoreMemory is the memory ScoreWindows works in for windows of seq
// tokens beside the weights: the batches in flight (their activations
// rounded up to the buffer pool's power-of-two sizes), the output head's
// row chunks and attention's scores and packed keys and values.
func (n *Net) ScoreMemory(seq int) int64 { return ScoreMemory(n.Cfg, seq) }

// ScoreMemory is what a net of shape c scores windows of seq tokens in,
// beside its weights (Net.ScoreMemory).
func ScoreMemory(c *model.Config, seq int) int64 {
	rows := batchWindows(seq) * seq
	pooled := func(values int) int64 { return 4 << bits.Len(uint(max(values, 1)-1)) }
	perBatch := pooled(rows*c.HiddenSize)*2 + pooled(rows*(c.QDim()+2*c.KVDim())) + pooled(rows*c.QDim()) +
		pooled(rows*2*c.IntermediateSize) + pooled(rows*c.IntermediateSize)
	threads := int64(runtime.GOMAXPROCS(0))
	head := threads * (pooled(headRows*c.HiddenSize) + pooled(headRows*min(headVocab, c.VocabSize)))
	attn := threads*pooled(queryChunk*seq) + int64(batchWindows(seq)*c.NumKeyValueHeads*2)*pooled(seq*c.HeadDim+32*c.HeadDim)
	return int64(scoreWorkers(c))*(perBatch+attn) + head
}

// ScoreWindows returns the log-probability of every predicted token of
// every window (positions 1..len-1), in window order. Batches of windows
// run concurrently on small models (whose GEMMs are too small to split);
// large models run one batch at a time with multi-threaded GEMMs. done, if
// not nil, is called with the number of windows finished.
func (n *Net) ScoreWindows(windows [][]int, done func(int)) ([][]float64, error) {
	out := make([][]float64, len(windows))
	workers := n.scoreWorkers()
	type job struct{ lo, hi int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lps, err := n.LogProbs(windows[j.lo:j.hi])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				copy(out[j.lo:j.hi], lps)
				if done != nil {
					done(j.hi - j.lo)
				}
			}
		}()
	}
	longest := 0
	for _, w := range windows {
		longest = max(longest, len(w))
	}
	per := batchWindows(longest)
	for lo := 0; lo < len(windows); lo += per {
		jobs <- job{lo, min(lo+per, len(windows))}
	}
	close(jobs)
	wg.Wait()
	return out, firstErr
}
