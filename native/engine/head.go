package engine

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gptailor/gptailor/native/kernel"
)

// The output head for scoring: log p(token | row) needs one logit and the
// log-sum-exp of the row, not the row. Rows go through the head headRows
// at a time and the vocabulary headVocab columns at a time; each block of
// logits is folded into a running log-sum-exp per row (kernel.LSEStep)
// while it is still in cache. So the head's weights are read once per
// headRows rows (Rows, which hands out whole rows of logits, reads them
// once per logitRows = 64), and a block of logits is 2 MB, not the 12.6 MB
// of 64 whole rows at a 49,152-token vocabulary.
const (
	headRows  = 256
	headVocab = 2048 // a multiple of every kernel's panel width
)

// eachChunk runs fn on [0, n) in chunks of size, on every core.
func eachChunk(n, size int, fn func(lo, hi int)) {
	chunks := make(chan int, (n+size-1)/size)
	for lo := 0; lo < n; lo += size {
		chunks <- lo
	}
	close(chunks)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), cap(chunks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range chunks {
				fn(lo, min(lo+size, n))
			}
		}()
	}
	wg.Wait()
}

// check refuses rows outside the batch.
func (b *batch) check(rows []Row) error {
	for i, r := range rows {
		if r.Seq < 0 || r.Seq >= len(b.starts) || r.Row < 0 || r.Row >= b.lens[r.Seq] {
			return fmt.Errorf("row %d (%d, %d) is outside the batch", i, r.Seq, r.Row)
		}
	}
	return nil
}

// TargetLogProbs returns log p(target.Token | the row's context) for each target.
func (n *Net) TargetLogProbs(seqs []Seq, targets []Target) ([]float64, error) {
	rows := make([]Row, len(targets))
	for i, t := range targets {
		if t.Token < 0 || t.Token >= n.Cfg.VocabSize {
			return nil, fmt.Errorf("target %d: token id %d outside the vocabulary", i, t.Token)
		}
		rows[i] = t.Row
	}
	b, err := n.newBatch(seqs)
	if err != nil {
		return nil, err
	}
	defer b.release()
	if err := b.check(rows); err != nil {
		return nil, err
	}
	n.hidden(b)
	out := make([]float64, len(targets))
	eachChunk(len(rows), headRows, func(lo, hi int) {
		n.headTargets(b, rows[lo:hi], targets[lo:hi], out[lo:hi])
	})
	return out, nil
}

// headTargets writes log p(targets[i].Token | rows[i]) to out[i] for up to
// headRows rows, on the calling goroutine.
func (n *Net) headTargets(b *batch, rows []Row, targets []Target, out []float64) {
	d, V := n.Cfg.HiddenSize, n.Cfg.VocabSize
	a := kernel.GetFloats(len(rows) * d)
	logits := kernel.GetFloats(len(rows) * min(headVocab, V))
	defer kernel.PutFloats(a)
	defer kernel.PutFloats(logits)
	for i, r := range rows {
		row := b.starts[r.Seq] + r.Row
		copy(a[i*d:(i+1)*d], b.xn[row*d:(row+1)*d])
	}
	type lse struct{ m, s, target float64 }
	state := make([]lse, len(rows))
	for i := range state {
		state[i].m = math.Inf(-1)
	}
	head := n.Head.LMHead
	for v0 := 0; v0 < V; v0 += headVocab {
		v1 := min(v0+headVocab, V)
		vb := v1 - v0
		kernel.MatMulTSerial(logits, vb, a, d, len(rows), head.Slice(v0, v1), false)
		softCap(logits[:len(rows)*vb], n.Cfg.FinalSoftCap())
		for i := range rows {
			l := logits[i*vb : (i+1)*vb]
			st := &state[i]
			st.m, st.s = kernel.LSEStep(l, st.m, st.s)
			if t := targets[i].Token; t >= v0 && t < v1 {
				st.target = float64(l[t-v0])
			}
		}
	}
	for i, st := range state {
		out[i] = st.target - (st.m + math.Log(st.s))
	}
}
