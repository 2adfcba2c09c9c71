package engine

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// KVCache holds one sequence's keys (after RoPE) and values for every
// decoder slot of a net that runs attention, so a new token attends to the
// tokens before it without running them again. A slot whose layer skips
// attention keeps nothing. Keys and values are float32, or bfloat16 with
// half (--kv bf16): half the memory, rounded as bf16.FromFloat32 rounds.
type KVCache struct {
	kvDim  int
	cap    int
	len    int
	half   bool
	k, v   [][]float32 // per slot: [cap, kvDim] (nil: the slot has no attention)
	hk, hv [][]uint16  // the same in bfloat16 when half
}

// AttnSlots is how many of the net's slots run attention (and so keep keys
// and values in a KVCache).
func (n *Net) AttnSlots() int {
	k := 0
	for _, l := range n.Layers {
		if l.HasAttn() {
			k++
		}
	}
	return k
}

// KVBytes is the memory of one sequence's cache of positions positions for
// a net of shape cfg with attnSlots attention slots: 2 (keys and values) ×
// slots × kv_heads × head_dim × positions × 4 bytes (2 with half).
func KVBytes(cfg *model.Config, attnSlots, positions int, half bool) int64 {
	elem := int64(4)
	if half {
		elem = 2
	}
	return 2 * int64(attnSlots) * int64(cfg.KVDim()) * int64(positions) * elem
}

// KVBytes is the memory of one sequence's cache of positions positions for
// this net.
func (n *Net) KVBytes(positions int, half bool) int64 {
	return KVBytes(n.Cfg, n.AttnSlots(), positions, half)
}

// NewKVCache returns an empty cache for up to positions positions of one
// sequence. More than the model's max_position_embeddings is refused with
// both numbers.
func (n *Net) NewKVCache(positions int, half bool) (*KVCache, error) {
	if positions <= 0 {
		return nil, fmt.Errorf("a KV cache of %d positions: need at least 1", positions)
	}
	if mp := n.Cfg.MaxPositionEmbeddings; mp > 0 && positions > mp {
		return nil, fmt.Errorf("%d positions exceed the model's context of %d (max_position_embeddings)", positions, mp)
	}
	kv := n.Cfg.KVDim()
	c := &KVCache{kvDim: kv, cap: positions, half: half}
	for _, l := range n.Layers {
		var k, v []float32
		var hk, hv []uint16
		if l.HasAttn() {
			if half {
				hk, hv = make([]uint16, positions*kv), make([]uint16, positions*kv)
			} else {
				k, v = make([]float32, positions*kv), make([]float32, positions*kv)
			}
		}
		c.k, c.v, c.hk, c.hv = append(c.k, k), append(c.v, v), append(c.hk, hk), append(c.hv, hv)
	}
	// the whole tables once, not a bigger one every step
	for _, k := range []model.LayerKind{model.Global, model.Sliding} {
		n.ropeOf(&batch{maxPos: positions}, k)
		if above := n.Cfg.LongRopeAbove(); above > 0 {
			n.ropeOf(&batch{maxPos: min(positions, above)}, k) // longrope's short table
		}
	}
	return c, nil
}

// Len is how many positions the cache holds.
func (c *KVCache) Len() int { return c.len }

// Cap is how many positions the cache can hold.
func (c *KVCache) Cap() int { return c.cap }

// Bytes is the memory the cache holds.
func (c *KVCache) Bytes() int64 {
	var b int64
	for i := range c.k {
		b += int64(len(c.k[i])+len(c.v[i]))*4 + int64(len(c.hk[i])+len(c.hv[i]))*2
	}
	return b
}

// Reset empties the cache (its memory is kept for the next sequence).
func (c *KVCache) Reset() { c.len = 0 }

// Truncate drops every position from p on.
func (c *KVCache) Truncate(p int) {
	if p >= 0 && p < c.len {
		c.len = p
	}
}

// check refuses a cache that was not made for a net of this shape.
func (c *KVCache) check(n *Net) error {
	if c == nil {
		return fmt.Errorf("no KV cache")
	}
	if c.kvDim != n.Cfg.KVDim() || len(c.k) != len(n.Layers) {
		return fmt.Errorf("a KV cache for %d slots of width %d used with a net of %d slots of width %d", len(c.k), c.kvDim, len(n.Layers), n.Cfg.KVDim())
	}
	for i, l := range n.Layers {
		if l.HasAttn() != (c.k[i] != nil || c.hk[i] != nil) {
			return fmt.Errorf("a KV cache made for another net: slot %d", i)
		}
	}
	return nil
}

// attend runs attention for the batch: without caches the causal attention
// over the batch's rows; with them, the new rows' keys and values go into
// the caches and each new row attends to every cached position up to its
// own. A batch whose caches are all empty (a prompt) runs the batched
// attention on the packed GEMM kernels.
func (n *Net) attend(b *batch) {
	if b.kv == nil {
		n.attention(b)
		return
	}
	n.storeKV(b)
	fresh := true
	for _, c := range b.kv {
		fresh = fresh && c.len == 0
	}
	if fresh {
		n.attention(b)
		return
	}
	n.cachedAttention(b)
}

// storeKV copies the new rows' keys and values into the caches at slot
// b.slot, positions len, len+1, ... (len moves once every slot has run).
func (n *Net) storeKV(b *batch) {
	c := n.Cfg
	qkvW := c.QDim() + 2*c.KVDim()
	kOff, vOff, kv := c.QDim(), c.QDim()+c.KVDim(), c.KVDim()
	for s, start := range b.starts {
		kc := b.kv[s]
		for t := 0; t < b.lens[s]; t++ {
			row := b.qkv[(start+t)*qkvW:]
			at := (kc.len + t) * kv
			if kc.half {
				hk, hv := kc.hk[b.slot][at:at+kv], kc.hv[b.slot][at:at+kv]
				for i := range hk {
					hk[i] = bf16.FromFloat32(row[kOff+i])
					hv[i] = bf16.FromFloat32(row[vOff+i])
				}
				continue
			}
			copy(kc.k[b.slot][at:at+kv], row[kOff:kOff+kv])
			copy(kc.v[b.slot][at:at+kv], row[vOff:vOff+kv])
		}
	}
}

// cachedAttention computes each new row's attention over its sequence's
// cache (which already holds the new rows): the work is split over
// (sequence, kv head); a job reads that head's keys and values once for
// the group of query heads sharing them.
func (n *Net) cachedAttention(b *batch) {
	c := n.Cfg
	hd, H, KV := c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	group := H / KV
	qkvW, kv := c.QDim()+2*c.KVDim(), c.KVDim()
	window := c.WindowFor(b.kind)
	scoreCap := c.AttnSoftCap()
	type job struct{ s, g int }
	jobs := make(chan job, len(b.starts)*KV)
	for s := range b.starts {
		for g := 0; g < KV; g++ {
			jobs <- job{s, g}
		}
	}
	close(jobs)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), cap(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scores, wide []float32
			for j := range jobs {
				kc := b.kv[j.s]
				total := kc.len + b.lens[j.s]
				scores = grow(scores, total)
				// keys[u] and vals[u] of head g at stride ld
				var keys, vals []float32
				ld := kv
				if !kc.half {
					keys, vals = kc.k[b.slot][j.g*hd:], kc.v[b.slot][j.g*hd:]
				} else {
					wide = grow(wide, 2*total*hd)
					for u := 0; u < total; u++ {
						hk, hv := kc.hk[b.slot][u*kv+j.g*hd:], kc.hv[b.slot][u*kv+j.g*hd:]
						for i := 0; i < hd; i++ {
							wide[u*hd+i] = bf16.ToFloat32(hk[i])
							wide[(total+u)*hd+i] = bf16.ToFloat32(hv[i])
						}
					}
					keys, vals, ld = wide[:total*hd], wide[total*hd:], hd
				}
				start := b.starts[j.s]
				for t := 0; t < b.lens[j.s]; t++ {
					p := kc.len + t
					lo := 0
					if window > 0 && p-window+1 > 0 {
						lo = p - window + 1
					}
					row := (start + t)
					for h := j.g * group; h < (j.g+1)*group; h++ {
						q := b.qkv[row*qkvW+h*hd : row*qkvW+(h+1)*hd] // carries 1/√hd
						sc := scores[:p+1-lo]
						for u := lo; u <= p; u++ {
							sc[u-lo] = kernel.Dot(q, keys[u*ld:u*ld+hd])
						}
						softCap(sc, scoreCap)
						kernel.Softmax(sc)
						out := b.att[row*c.QDim()+h*hd : row*c.QDim()+(h+1)*hd]
						clear(out)
						for u := lo; u <= p; u++ {
							kernel.Axpy(sc[u-lo], vals[u*ld:u*ld+hd], out)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

func grow(v []float32, n int) []float32 {
	if cap(v) < n {
		return make([]float32, n)
	}
	return v[:n]
}

// Extend runs tokens[s] after what caches[s] holds, for every sequence s
// at once (a prompt in one batch through the GEMM kernels, or one token of
// each of B sequences), appends their keys and values to the caches, and
// calls fn(s, t, logits) with the logits after the last new token of each
// sequence (after every new token with all). logits is reused after fn
// returns; fn is called from one goroutine, in order. A sequence that
// would outgrow its cache is refused with both numbers, before any work.
func (n *Net) Extend(caches []*KVCache, tokens [][]int, all bool, fn func(s, t int, logits []float32)) error {
	if len(caches) != len(tokens) {
		return fmt.Errorf("%d caches for %d sequences", len(caches), len(tokens))
	}
	seen := map[*KVCache]bool{}
	seqs := make([]Seq, len(tokens))
	for s, toks := range tokens {
		kc := caches[s]
		if err := kc.check(n); err != nil {
			return fmt.Errorf("sequence %d: %w", s, err)
		}
		if seen[kc] {
			return fmt.Errorf("sequence %d: its KV cache is used by another sequence of the batch", s)
		}
		seen[kc] = true
		if kc.len+len(toks) > kc.cap {
			return fmt.Errorf("sequence %d: %d cached + %d new tokens exceed the cache's %d positions", s, kc.len, len(toks), kc.cap)
		}
		pos := make([]int, len(toks))
		for t := range pos {
			pos[t] = kc.len + t
		}
		seqs[s] = Seq{Tokens: toks, Pos: pos}
	}
	b, err := n.newBatch(seqs)
	if err != nil {
		return err
	}
	defer b.release()
	b.kv = caches
	n.hidden(b)
	for s, kc := range caches {
		kc.len += b.lens[s]
	}
	var rows []Row
	for s, l := range b.lens {
		for t := 0; t < l; t++ {
			if all || t == l-1 {
				rows = append(rows, Row{s, t})
			}
		}
	}
	d, V := n.Cfg.HiddenSize, n.Cfg.VocabSize
	chunk := max(logitRows, len(b.lens)) // one pass over the head for a decode step
	a := kernel.GetFloats(min(chunk, len(rows)) * d)
	logits := kernel.GetFloats(min(chunk, len(rows)) * V)
	defer kernel.PutFloats(a)
	defer kernel.PutFloats(logits)
	for lo := 0; lo < len(rows); lo += chunk {
		hi := min(lo+chunk, len(rows))
		for i, r := range rows[lo:hi] {
			row := b.starts[r.Seq] + r.Row
			copy(a[i*d:(i+1)*d], b.xn[row*d:(row+1)*d])
		}
		kernel.MatMulT(logits, V, a, d, hi-lo, n.Head.LMHead, false)
		softCap(logits[:(hi-lo)*V], n.Cfg.FinalSoftCap())
		for i, r := range rows[lo:hi] {
			fn(r.Seq, r.Row, logits[i*V:(i+1)*V])
		}
	}
	return nil
}

// Argmax is the index of the largest value (the first of equal ones; NaN
// never wins).
func Argmax(v []float32) int {
	best, bv := 0, float32(math.Inf(-1))
	for i, x := range v {
		if x > bv {
			best, bv = i, x
		}
	}
	return best
}

// Greedy extends prompt by up to steps tokens, each the argmax of the
// logits (stopping before stop, if stop >= 0), decoding with a KV cache.
func (n *Net) Greedy(prompt []int, steps, stop int) ([]int, error) {
	kc, err := n.NewKVCache(len(prompt)+steps, false)
	if err != nil {
		return nil, err
	}
	seq := append([]int(nil), prompt...)
	next := prompt
	for i := 0; i < steps; i++ {
		best := 0
		if err := n.Extend([]*KVCache{kc}, [][]int{next}, false, func(_, _ int, l []float32) { best = Argmax(l) }); err != nil {
			return nil, err
		}
		if best == stop {
			break
		}
		seq = append(seq, best)
		next = []int{best}
	}
	return seq, nil
}
