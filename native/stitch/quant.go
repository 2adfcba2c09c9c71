package stitch

import (
	"sync"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/kernel"
)

// repairCounter is RepairStats shared by a builder and its views.
type repairCounter struct {
	mu sync.Mutex
	RepairStats
}

// viewSet holds a builder's quantized views, one per type.
type viewSet struct {
	mu sync.Mutex
	m  map[gguf.Type]*Builder
}

// Quantized is the builder whose nets compute with the weights a GGUF
// file of type t stores (t not Q8_0 or Q4_0: the full-precision builder): every source
// layer and head read, merged layer, merged head and repaired MLP is
// quantized and dequantized as ggufexport writes it, then packed into
// float32 panels. Merges are computed in full precision first and not
// rounded to the family's 16-bit format (as build --format gguf writes
// them); a repair is fitted on the quantized prefix against the
// full-precision teacher. The view shares the builder's layer cache (its
// entries are keyed apart, engine.QuantKey), its prefix cache and its
// repair caches.
func (b *Builder) Quantized(t gguf.Type) *Builder {
	r := b.root
	if !t.Quantized() {
		return r
	}
	r.views.mu.Lock()
	defer r.views.mu.Unlock()
	if v, ok := r.views.m[t]; ok {
		return v
	}
	v := &Builder{Family: r.Family, Loader: r.Loader.Quantized(t), Prefix: r.Prefix, Calibrate: r.Calibrate,
		fits: r.fits, hidden: r.hidden, checks: newChecks(), stats: r.stats, cache: r.cache, format: r.format,
		quant: t, root: r, views: r.views}
	if r.views.m == nil {
		r.views.m = map[gguf.Type]*Builder{}
	}
	r.views.m[t] = v
	return v
}

// Quant is the type the builder's nets store their weights as (F32: full
// precision).
func (b *Builder) Quant() gguf.Type { return b.quant }

// deployed is s as the builder's nets compute with it: quantized (from
// the unrounded merge) in a quantized view, s itself otherwise.
func (b *Builder) deployed(s planSource) engine.Source {
	if b.quant == gguf.F32 {
		return s
	}
	s.raw = true
	return engine.QuantSource(s, b.Family.Base().Config, b.quant)
}

// panelFormat is the format the builder's merged weights are packed in.
func (b *Builder) panelFormat() kernel.Format {
	if b.quant != gguf.F32 {
		return kernel.F32
	}
	return b.format
}

// quantize stores a repaired MLP's tensors as the view's type does (copies:
// the tensors may be shared with their source).
func (b *Builder) quantize(ts engine.Tensors) error {
	if b.quant == gguf.F32 {
		return nil
	}
	for role, v := range ts {
		w := append([]float32(nil), v...)
		if err := engine.Quantize(b.Family.Base().Config, role, w, b.quant); err != nil {
			return err
		}
		ts[role] = w
	}
	return nil
}
