package engine

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// Net is a runnable model: a config (the blueprint), a head and an explicit
// layer list. Layers may come from different models of a family, repeat, or
// be merged; the forward pass does not care.
type Net struct {
	Cfg    *model.Config
	Head   *Head
	Layers []*Layer
	// Prefix, when set, reuses activations of layer prefixes computed by
	// earlier nets on the same inputs (see PrefixCache).
	Prefix *Prefixes
	// Kinds, when set, gives each slot's layer kind (sliding or global)
	// instead of the layers' own (see arch.go).
	Kinds []model.LayerKind

	act    string // the MLP activation (model.Config.Act)
	ropeMu sync.Mutex
	ropes  [2][2]*ropeTab // by layer kind, then longrope's short/long
}

// NewNet assembles a network.
func NewNet(cfg *model.Config, head *Head, layers []*Layer) *Net {
	return &Net{Cfg: cfg, Head: head, Layers: layers, act: cfg.Act()}
}

// batch is the activation state of one forward call over several sequences.
type batch struct {
	lens   []int   // length of each sequence
	starts []int   // first row of each sequence
	key    []byte  // hash of the inputs, for the prefix cache
	pos    [][]int // position ids per sequence (nil: 0, 1, 2, ...)
	seg    [][]int // branch per token (nil: one causal sequence), see Seq
	rows   int
	maxPos int             // positions the batch's RoPE tables cover
	slot   int             // the layer slot being run
	kind   model.LayerKind // its kind (set by attnBlock)
	x      []float32       // [rows, D] residual stream
	xn     []float32       // [rows, D] normalised
	qkv    []float32       // [rows, (H+2KV)·hd]
	att    []float32       // [rows, H·hd]
	gu     []float32       // [rows, 2I]
	h      []float32       // [rows, I]

	kv []*KVCache // per sequence, when decoding (see Extend)
}

// Seq is one packed input sequence. Tokens run causally; with Seg, a
// token of branch k > 0 sees the shared prefix (Seg 0) and the earlier
// tokens of its own branch only, so several continuations of one context
// share the context's computation. Pos gives each token's position (a
// branch continues from the end of the prefix); nil means 0, 1, 2, ....
type Seq struct {
	Tokens []int
	Pos    []int
	Seg    []int
}

func plain(seqs [][]int) []Seq {
	out := make([]Seq, len(seqs))
	for i, s := range seqs {
		out[i] = Seq{Tokens: s}
	}
	return out
}

func (n *Net) newBatch(seqs []Seq) (*batch, error) {
	c := n.Cfg
	b := &batch{}
	for i, s := range seqs {
		if len(s.Tokens) == 0 {
			return nil, fmt.Errorf("sequence %d is empty", i)
		}
		if (s.Pos != nil && len(s.Pos) != len(s.Tokens)) || (s.Seg != nil && len(s.Seg) != len(s.Tokens)) {
			return nil, fmt.Errorf("sequence %d: positions or segments do not match its %d tokens", i, len(s.Tokens))
		}
		for _, p := range s.Pos {
			if p < 0 || p > 1<<20 {
				return nil, fmt.Errorf("sequence %d: position %d out of range", i, p)
			}
		}
		b.starts = append(b.starts, b.rows)
		b.lens = append(b.lens, len(s.Tokens))
		b.pos = append(b.pos, s.Pos)
		b.seg = append(b.seg, s.Seg)
		b.rows += len(s.Tokens)
	}
	if n.Prefix != nil {
		b.key = batchKey(seqs)
	}
	d := c.HiddenSize
	// Every buffer is written in full before it is read (the embeddings
	// fill x; every GEMM and norm writes all its rows), so they come from
	// a pool: a search's batches would otherwise be most of its garbage.
	b.x = kernel.GetFloats(b.rows * d)
	b.xn = kernel.GetFloats(b.rows * d)
	b.qkv = kernel.GetFloats(b.rows * (c.QDim() + 2*c.KVDim()))
	b.att = kernel.GetFloats(b.rows * c.QDim())
	b.gu = kernel.GetFloats(b.rows * 2 * c.IntermediateSize)
	b.h = kernel.GetFloats(b.rows * c.IntermediateSize)
	r := 0
	for i, s := range seqs {
		for t, tok := range s.Tokens {
			if tok < 0 || tok >= c.VocabSize {
				return nil, fmt.Errorf("sequence %d position %d: token id %d outside the vocabulary [0, %d)", i, t, tok, c.VocabSize)
			}
			n.Head.Embed.Row(tok, b.x[r*d:(r+1)*d])
			r++
		}
	}
	if s := n.Head.EmbedScale; s != 0 {
		kernel.Scale(b.x[:b.rows*d], s)
	}
	return b, nil
}

// release returns the batch's buffers to the pool; the batch is not used
// after.
func (b *batch) release() {
	for _, v := range [][]float32{b.x, b.xn, b.qkv, b.att, b.gu, b.h} {
		kernel.PutFloats(v)
	}
	b.x, b.xn, b.qkv, b.att, b.gu, b.h = nil, nil, nil, nil, nil, nil
}

// rmsNorm writes w ⊙ x / rms(x) for each row.
func rmsNorm(dst, src, w []float32, d int, eps float64) {
	for r := 0; r+d <= len(src); r += d {
		kernel.RMSNorm(dst[r:r+d], src[r:r+d], w, eps)
	}
}

// hidden runs the decoder layers and the final norm; the result is in b.xn.
func (n *Net) hidden(b *batch) { n.hiddenTrace(b, nil) }

// hiddenTrace is hidden, calling trace with the residual stream entering
// each layer (layer 0 = the embeddings) and after the last one (layer L).
func (n *Net) hiddenTrace(b *batch, trace func(layer int, x []float32)) {
	c := n.Cfg
	d := c.HiddenSize
	cos, sin := n.ropeFor(b)
	var keys []string
	first := 0
	if p := n.Prefix; p != nil && p.Cache != nil && trace == nil && b.kv == nil && len(p.LayerKeys) == len(n.Layers) {
		keys = p.chainKeys(b.key)
		for k := len(keys); k > 0; k-- {
			if x, ok := p.Cache.get(keys[k-1]); ok && len(x) == len(b.x) {
				copy(b.x, x)
				first = k
				break
			}
		}
		p.Cache.mu.Lock()
		if first > 0 {
			p.Cache.Hits++
			p.Cache.LayersSkipped += first
		} else {
			p.Cache.Misses++
		}
		p.Cache.mu.Unlock()
	}
	for li := first; li < len(n.Layers); li++ {
		l := n.Layers[li]
		if trace != nil {
			trace(li, b.x)
		}
		b.slot = li
		n.layer(b, l, cos, sin)
		if keys != nil {
			n.Prefix.Cache.put(keys[li], b.x)
		}
	}
	if trace != nil {
		trace(len(n.Layers), b.x)
	}
	rmsNorm(b.xn, b.x, n.Head.FinalNorm, d, c.RMSNormEps)
}

// ropeFor returns the rope tables of global layers covering every
// position of the batch (attnBlock takes its kind's).
func (n *Net) ropeFor(b *batch) (cos, sin []float32) {
	maxPos := 0
	for i, l := range b.lens {
		maxPos = max(maxPos, l)
		for _, p := range b.pos[i] {
			maxPos = max(maxPos, p+1)
		}
	}
	b.maxPos = maxPos
	return n.ropeOf(b, model.Global)
}

// layer runs one decoder layer on the residual stream b.x: the sub-blocks
// it has, each added in place.
func (n *Net) layer(b *batch, l *Layer, cos, sin []float32) {
	if l.HasAttn() {
		n.attnBlock(b, l, cos, sin)
	}
	if l.HasMLP() {
		n.mlpBlock(b, l, b.x, true)
	}
}

// attnBlock adds the layer's attention output to the residual stream b.x.
// The layer's kind (from its slot, b.slot) picks its window and RoPE.
func (n *Net) attnBlock(b *batch, l *Layer, cos, sin []float32) {
	c := n.Cfg
	d := c.HiddenSize
	qkvW := c.QDim() + 2*c.KVDim()
	if b.kind = n.kindAt(b.slot); b.kind != model.Global {
		cos, sin = n.ropeOf(b, b.kind)
	}
	rmsNorm(b.xn, b.x, l.AttnNorm, d, c.RMSNormEps)
	kernel.MatMulT(b.qkv, qkvW, b.xn, d, b.rows, l.QKV, false)
	if l.QKVBias != nil {
		for r := 0; r < b.rows; r++ {
			row := b.qkv[r*qkvW : (r+1)*qkvW]
			for i, v := range l.QKVBias {
				row[i] += v
			}
		}
	}
	if l.QNorm != nil {
		n.qkNorms(b, l)
	}
	n.applyRope(b, cos, sin)
	n.attend(b)
	if l.PostAttnNorm != nil {
		kernel.MatMulT(b.xn, d, b.att, c.QDim(), b.rows, l.O, false)
		addNormed(b.x, b.xn, l.PostAttnNorm, d, c.RMSNormEps, true)
		return
	}
	kernel.MatMulT(b.x, d, b.att, c.QDim(), b.rows, l.O, true)
}

// mlpBlock computes the layer's MLP output on the residual stream b.x and
// adds it to out (accumulate) or writes it there.
func (n *Net) mlpBlock(b *batch, l *Layer, out []float32, accumulate bool) {
	c := n.Cfg
	d, inter := c.HiddenSize, c.IntermediateSize
	rmsNorm(b.xn, b.x, l.MLPNorm, d, c.RMSNormEps)
	kernel.MatMulT(b.gu, 2*inter, b.xn, d, b.rows, l.GateUp, false)
	n.activate(b)
	if l.PostMLPNorm != nil {
		kernel.MatMulT(b.xn, d, b.h, inter, b.rows, l.Down, false)
		addNormed(out, b.xn, l.PostMLPNorm, d, c.RMSNormEps, accumulate)
		return
	}
	kernel.MatMulT(out, d, b.h, inter, b.rows, l.Down, accumulate)
}

// applyRope rotates the q and k parts of every row by its position.
func (n *Net) applyRope(b *batch, cos, sin []float32) {
	c := n.Cfg
	hd, half := c.HeadDim, c.HeadDim/2
	qkvW := c.QDim() + 2*c.KVDim()
	heads := c.NumAttentionHeads + c.NumKeyValueHeads // q heads then k heads are contiguous
	// Queries carry the scale of the scores (1/√hd, or Gemma's
	// query_pre_attn_scalar^-½): one multiply per query value instead of
	// one per score (exact when it is a power of 2).
	scale := float32(c.AttnScale())
	for s, start := range b.starts {
		for t := 0; t < b.lens[s]; t++ {
			row := b.qkv[(start+t)*qkvW:]
			p := t
			if b.pos[s] != nil {
				p = b.pos[s][t]
			}
			cs, sn := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
			for h := 0; h < heads; h++ {
				v := row[h*hd : (h+1)*hd]
				if h < c.NumAttentionHeads {
					for i := 0; i < half; i++ {
						a, bb := v[i], v[i+half]
						v[i] = (a*cs[i] - bb*sn[i]) * scale
						v[i+half] = (bb*cs[i] + a*sn[i]) * scale
					}
					continue
				}
				for i := 0; i < half; i++ {
					a, bb := v[i], v[i+half]
					v[i] = a*cs[i] - bb*sn[i]
					v[i+half] = bb*cs[i] + a*sn[i]
				}
			}
		}
	}
}

// queryChunk is how many query rows one attention GEMM handles; a chunk
// only multiplies the keys it can see, which skips most of the masked half.
const queryChunk = 64

// attention computes causal grouped-query attention. Keys and values are
// packed once per (sequence, kv head); the work is split over (sequence,
// query head, range of query rows) — the ranges cut where the causal
// triangle's work halves when there are few sequences, so one long window
// keeps every core busy — and runs the scores S = Q·Kᵀ (queries carry
// 1/√hd, see applyRope) and outputs O = P·V as GEMMs on the packed kernels.
func (n *Net) attention(b *batch) {
	c := n.Cfg
	hd := c.HeadDim
	H, KV := c.NumAttentionHeads, c.NumKeyValueHeads
	group := H / KV
	qkvW := c.QDim() + 2*c.KVDim()
	kOff, vOff := c.QDim(), c.QDim()+c.KVDim()
	window := c.WindowFor(b.kind)
	scoreCap := c.AttnSoftCap()
	maxLen := 0
	for _, l := range b.lens {
		maxLen = max(maxLen, l)
	}
	keys := make([]*kernel.Packed, len(b.starts)*KV)
	vals := make([]*kernel.Packed, len(b.starts)*KV)
	for s, start := range b.starts {
		base := b.qkv[start*qkvW:]
		for g := 0; g < KV; g++ {
			keys[s*KV+g] = kernel.PackStrided(base[kOff+g*hd:], b.lens[s], hd, qkvW, 1) // K [T, hd]
			vals[s*KV+g] = kernel.PackStrided(base[vOff+g*hd:], hd, b.lens[s], 1, qkvW) // Vᵀ [hd, T]
		}
	}
	defer func() {
		for i := range keys {
			keys[i].Recycle()
			vals[i].Recycle()
		}
	}()
	workers := runtime.GOMAXPROCS(0)
	type job struct{ s, h, r0, r1 int }
	var list []job
	for s := range b.starts {
		T := b.lens[s]
		cut := T
		if len(b.starts)*H < 4*workers && T > 2*queryChunk {
			// rows [0, T/√2) hold half the causal work
			cut = min(T, (int(float64(T)/math.Sqrt2)+queryChunk-1)/queryChunk*queryChunk)
		}
		for h := 0; h < H; h++ {
			list = append(list, job{s, h, 0, cut})
			if cut < T {
				list = append(list, job{s, h, cut, T})
			}
		}
	}
	jobs := make(chan job, len(list))
	for _, j := range list {
		jobs <- j
	}
	close(jobs)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(list)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scores := kernel.GetFloats(queryChunk * maxLen)
			defer kernel.PutFloats(scores)
			for j := range jobs {
				start := b.starts[j.s]
				base := b.qkv[start*qkvW:]
				g := j.h / group
				kp, vp := keys[j.s*KV+g], vals[j.s*KV+g]
				for r0 := j.r0; r0 < j.r1; r0 += queryChunk {
					r1 := min(r0+queryChunk, j.r1)
					rows := r1 - r0
					kernel.MatMulTSerial(scores, r1, base[r0*qkvW+j.h*hd:], qkvW, rows, kp.View(r1, hd), false)
					for i := 0; i < rows; i++ {
						t := r0 + i
						row := scores[i*r1 : (i+1)*r1]
						lo := 0
						if window > 0 && t-window+1 > 0 {
							lo = t - window + 1
						}
						clear(row[:lo])
						softCap(row[lo:t+1], scoreCap)
						if seg := b.seg[j.s]; seg != nil && seg[t] != 0 {
							// A branch sees the prefix and itself only.
							for u := lo; u < t; u++ {
								if seg[u] != 0 && seg[u] != seg[t] {
									row[u] = float32(math.Inf(-1))
								}
							}
							kernel.Softmax(row[lo : t+1])
							for u := lo; u < t; u++ {
								if seg[u] != 0 && seg[u] != seg[t] {
									row[u] = 0
								}
							}
						} else {
							kernel.Softmax(row[lo : t+1])
						}
						clear(row[t+1:])
					}
					out := b.att[(start+r0)*c.QDim()+j.h*hd:]
					kernel.MatMulTSerial(out, c.QDim(), scores, r1, rows, vp.View(hd, r1), false)
				}
			}
		}()
	}
	wg.Wait()
}

// logitRows is how many rows of logits are held at once.
const logitRows = 64

// Row names one row of a batch: token Row of sequence Seq.
type Row struct{ Seq, Row int }

// Rows runs the sequences and calls fn with the logits of each requested
// row (fn(i, logits) for rows[i]; logits is reused after fn returns). Logits
// are computed logitRows rows at a time on every core, so fn may be called
// concurrently for different i.
func (n *Net) Rows(seqs []Seq, rows []Row, fn func(i int, logits []float32)) error {
	b, err := n.newBatch(seqs)
	if err != nil {
		return err
	}
	defer b.release()
	if err := b.check(rows); err != nil {
		return err
	}
	n.hidden(b)
	d, V := n.Cfg.HiddenSize, n.Cfg.VocabSize
	eachChunk(len(rows), logitRows, func(lo, hi int) {
		a := kernel.GetFloats((hi - lo) * d)
		logits := kernel.GetFloats((hi - lo) * V)
		defer kernel.PutFloats(a)
		defer kernel.PutFloats(logits)
		for i, r := range rows[lo:hi] {
			row := b.starts[r.Seq] + r.Row
			copy(a[i*d:(i+1)*d], b.xn[row*d:(row+1)*d])
		}
		kernel.MatMulTSerial(logits, V, a, d, hi-lo, n.Head.LMHead, false)
		softCap(logits[:(hi-lo)*V], n.Cfg.FinalSoftCap())
		for i := range rows[lo:hi] {
			fn(lo+i, logits[i*V:(i+1)*V])
		}
	})
	return nil
}

// Target asks for the log-probability of Token after row Row of sequence Seq.
type Target struct {
	Row
	Token int
}

// LogProbs returns, for every sequence s and position t < len(s)-1, the
// log-probability of seqs[s][t+1] after seqs[s][:t+1].
func (n *Net) LogProbs(seqs [][]int) ([][]float64, error) {
	var targets []Target
	for s, seq := range seqs {
		for t := 0; t+1 < len(seq); t++ {
			targets = append(targets, Target{Row{s, t}, seq[t+1]})
		}
	}
	flat, err := n.TargetLogProbs(plain(seqs), targets)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(seqs))
	k := 0
	for s, seq := range seqs {
		out[s] = flat[k : k+len(seq)-1]
		k += len(seq) - 1
	}
	return out, nil
}

// Logits returns the logits after the last token of seq.
func (n *Net) Logits(seq []int) ([]float32, error) {
	b, err := n.newBatch([]Seq{{Tokens: seq}})
	if err != nil {
		return nil, err
	}
	defer b.release()
	n.hidden(b)
	d, V := n.Cfg.HiddenSize, n.Cfg.VocabSize
	out := make([]float32, V)
	kernel.MatMulT(out, V, b.xn[(b.rows-1)*d:], d, 1, n.Head.LMHead, false)
	softCap(out, n.Cfg.FinalSoftCap())
	return out, nil
}

// Capture runs the sequences through the layers before layer k and layer
// k's attention, then calls fn with the residual stream r that layer k's
// MLP output is added to and that output m (rows × hidden each). The
// slices are reused: copy what you keep.
func (n *Net) Capture(seqs [][]int, k int, fn func(r, m []float32)) error {
	if k < 0 || k >= len(n.Layers) {
		return fmt.Errorf("capture at layer %d of %d", k, len(n.Layers))
	}
	if !n.Layers[k].HasMLP() {
		return fmt.Errorf("capture at layer %d: the layer has no MLP sub-block", k)
	}
	b, err := n.newBatch(plain(seqs))
	if err != nil {
		return err
	}
	defer b.release()
	cos, sin := n.ropeFor(b)
	for i, l := range n.Layers[:k] {
		b.slot = i
		n.layer(b, l, cos, sin)
	}
	b.slot = k
	if l := n.Layers[k]; l.HasAttn() {
		n.attnBlock(b, l, cos, sin)
	}
	m := make([]float32, len(b.x))
	n.mlpBlock(b, n.Layers[k], m, false)
	fn(b.x, m)
	return nil
}

// Trace runs the sequences and calls fn with the hidden states (rows ×
// hidden, sequences concatenated in order) entering each layer and after
// the last: fn(0, embeddings), ..., fn(L, output of the last layer). The
// slice is reused: copy what you keep.
func (n *Net) Trace(seqs [][]int, fn func(layer int, x []float32)) error {
	b, err := n.newBatch(plain(seqs))
	if err != nil {
		return err
	}
	defer b.release()
	n.hiddenTrace(b, fn)
	return nil
}
