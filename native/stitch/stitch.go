// Package stitch turns layer plans into runnable networks over a family:
// taken slots point at the shared packed source layers (no copies); merged
// slots are computed once and kept in a byte-bounded LRU cache keyed by the
// slot's recipe hash, so a search that revisits a merge pays once.
package stitch

import (
	"fmt"
	"slices"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/shared/plan"
)

// DefaultCacheBytes is a fixed cache size for tests and tools; the
// commands size the cache from the machine (session.DefaultCacheMB).
const DefaultCacheBytes = 2 << 30

// Builder builds nets from plans over one family.
type Builder struct {
	Family *model.Family
	Loader *engine.Loader
	// Prefix, when set, is given to every net built, so candidates that
	// share their first slots share those slots' activations.
	Prefix *engine.PrefixCache
	// Calibrate reads a plan's repair calibration windows (set by whoever
	// holds the family's tokenizer); nil: plans with a repair are refused.
	Calibrate func(r *plan.Repair) ([][]int, error)

	fits   *fifo[[]float64]   // fitted repair maps
	checks *fifo[RepairCheck] // repairs checked on held-out calibration windows (per view)
	hidden *fifo[[]float32]   // teachers' hidden states on calibration text
	stats  *repairCounter

	// quant, when not F32, is the GGUF type the nets' weights are stored
	// as before packing (a view made by Quantized); root is the
	// full-precision builder views share their caches with.
	quant gguf.Type
	root  *Builder
	views *viewSet

	cache *engine.LayerCache // source and merged layers and heads, one bound
	// format, when every model stores its weights as BF16 (or every one as
	// F16), is that type: the nets' merged tensors are rounded to it
	// (round) — exactly what build writes for them with its default dtype
	// (the sources'), and half the memory in the kernels. (LayerTensor and
	// MergeTensor stay float32: build --dtype f32 gets the unrounded
	// merge.) F32 otherwise: no rounding.
	format kernel.Format
}

// New returns a builder whose packed layers — source layers and merged
// ones alike — take at most cacheBytes (< 0: unbounded); past it the least
// recently used are dropped and read or merged again when needed.
func New(f *model.Family, cacheBytes int64) *Builder {
	c := engine.NewLayerCache(cacheBytes)
	b := &Builder{Family: f, Loader: engine.NewLoaderWithCache(c), cache: c, format: familyFormat(f),
		fits:   &fifo[[]float64]{max: 256 << 20, size: func(t []float64) int64 { return int64(len(t)) * 8 }},
		hidden: &fifo[[]float32]{max: 256 << 20, size: func(h []float32) int64 { return int64(len(h)) * 4 }},
		checks: newChecks(), stats: &repairCounter{}, views: &viewSet{}}
	b.root = b
	return b
}

// familyFormat is BF16 for a family stored all in BF16, F16 for one all
// in F16, F32 otherwise.
func familyFormat(f *model.Family) kernel.Format {
	for _, dt := range []safetensors.DType{safetensors.BF16, safetensors.F16} {
		all := true
		for _, m := range f.Models {
			n := m.Tensors.DTypes()
			all = all && len(n) == 1 && n[dt] > 0
		}
		if all {
			return engine.FormatOf(dt)
		}
	}
	return kernel.F32
}

// round rounds merged values to the family's 16-bit format (nothing for
// F32).
func (b *Builder) round(v []float32) {
	switch b.format {
	case kernel.BF16:
		bf16.Round(v)
	case kernel.F16:
		f16.Round(v)
	}
}

// Info describes the family for plan validation and parameter counts.
func Info(f *model.Family) *plan.Family {
	b := f.Base()
	attn, mlp := b.SubBlockParams()
	return &plan.Family{Models: f.Names(), Layers: b.Config.NumHiddenLayers, LayerParams: b.LayerParams(), OuterParams: b.OuterParams(), AttnParams: attn, MLPParams: mlp}
}

func (b *Builder) model(alias string) (*model.Model, error) {
	m, ok := b.Family.Model(alias)
	if !ok {
		return nil, fmt.Errorf("model %q is not in the family (%v)", alias, b.Family.Names())
	}
	return m, nil
}

// Net builds the network of a plan, which must validate against the family.
// A plan with a repair has it fitted (or found in the cache) first.
func (b *Builder) Net(p *plan.Plan) (*engine.Net, error) {
	net, _, err := b.net(p)
	return net, err
}

func (b *Builder) net(p *plan.Plan) (*engine.Net, []Fitted, error) {
	net, fits, _, err := b.netChecked(p)
	return net, fits, err
}

// netChecked builds p's net; with a repair, the repair is fitted, checked
// on the held-out calibration windows and left out (no fits returned) when
// it makes them worse.
func (b *Builder) netChecked(p *plan.Plan) (*engine.Net, []Fitted, RepairCheck, error) {
	var check RepairCheck
	if err := plan.Validate(p, Info(b.Family)); err != nil {
		return nil, nil, check, err
	}
	layers := make([]*engine.Layer, len(p.Slots))
	keys := make([]string, len(p.Slots))
	for i := range p.Slots {
		var err error
		if layers[i], err = b.slotLayer(p, i); err != nil {
			b.cache.Unpin(layers)
			return nil, nil, check, fmt.Errorf("slots[%d]: %w", i, err)
		}
		keys[i] = p.SlotHash(i) + engine.QuantKey(b.quant)
	}
	head, pinnedHead, err := b.head(p)
	if err != nil {
		b.cache.Unpin(layers)
		return nil, nil, check, err
	}
	var fits []Fitted
	if p.Repair != nil {
		plain, plainKeys := slices.Clone(layers), slices.Clone(keys)
		fits, err = b.repair(p, head, layers, keys)
		if err == nil {
			check, err = b.checkRepair(p, head, plain, layers, keys)
		}
		if err != nil {
			b.cache.Unpin(layers)
			if pinnedHead {
				b.cache.UnpinHead(head)
			}
			return nil, nil, check, err
		}
		if !check.Kept {
			// The repaired MLPs' pins go; the plain layers keep theirs.
			for _, f := range fits {
				b.cache.Unpin([]*engine.Layer{f.mlp})
			}
			layers, keys, fits = plain, plainKeys, nil
		}
	}
	net := engine.NewNet(b.Family.Base().Config, head, layers)
	b.cache.Adopt(net, pinnedHead)
	if b.Prefix != nil {
		net.Prefix = &engine.Prefixes{Cache: b.Prefix, EmbedKey: p.OuterHash(p.Embed) + engine.QuantKey(b.quant), LayerKeys: keys}
	}
	return net, fits, check, nil
}

// slotLayer is slot i's layer, pinned: a source layer, a merged one, or one
// composed of two sub-block recipes.
func (b *Builder) slotLayer(p *plan.Plan, i int) (*engine.Layer, error) {
	s := p.Slots[i]
	if !s.Split() {
		return b.partLayer(p, plan.Part{Take: s.Take, Merge: s.Merge})
	}
	attn, mlp := s.Blocks()
	var la, lm *engine.Layer
	var err error
	if !attn.None {
		if la, err = b.partLayer(p, attn); err != nil {
			return nil, fmt.Errorf("attn: %w", err)
		}
	}
	if !mlp.None {
		if lm, err = b.partLayer(p, mlp); err != nil {
			b.cache.Unpin([]*engine.Layer{la})
			return nil, fmt.Errorf("mlp: %w", err)
		}
	}
	return engine.Compose(la, lm), nil
}

// partLayer is the whole layer a recipe names (a sub-block takes its half).
func (b *Builder) partLayer(p *plan.Plan, pt plan.Part) (*engine.Layer, error) {
	if pt.Take != nil {
		m, err := b.model(pt.Take.Model)
		if err != nil {
			return nil, err
		}
		return b.Loader.Layer(m, pt.Take.Layer)
	}
	return b.mergedLayer(p.PartHash(pt), pt.Merge)
}

// PartTensor is one role's float32 tensor of a recipe: read from the
// source layer or merged.
func (b *Builder) PartTensor(pt plan.Part, role string) ([]float32, error) {
	if pt.Take != nil {
		m, err := b.model(pt.Take.Model)
		if err != nil {
			return nil, err
		}
		return m.Tensors.ReadFloat32(m.LayerTensorName(role, pt.Take.Layer))
	}
	if pt.Merge == nil {
		return nil, fmt.Errorf("no recipe for %s", role)
	}
	return b.LayerTensor(pt.Merge, role)
}

func (b *Builder) mergedLayer(key string, m *plan.Merge) (*engine.Layer, error) {
	key += engine.QuantKey(b.quant)
	if l, ok := b.cache.Get("merge", key); ok {
		return l.(*engine.Layer), nil
	}
	cfg := b.Family.Base().Config
	b.cache.Reserve(engine.LayerBytes(cfg, b.panelFormat()))
	l, err := engine.BuildLayer(cfg, b.deployed(b.layerSource(m)), true)
	if err != nil {
		return nil, err
	}
	l.Kind = cfg.KindAt(m.Layer)
	b.cache.Put("merge", key, l)
	return l, nil
}

// head returns the plan's head: a member's (shared with its dense nets) or
// one built from its embed/head sources, kept in the layer cache (a merged
// head of a 1B model is 0.5 GB: an unbounded map of them was the largest
// leak of a long search) and pinned until the caller's net adopts it.
func (b *Builder) head(p *plan.Plan) (h *engine.Head, pinned bool, err error) {
	// One member's embeddings and head together are that member's head,
	// shared with its dense nets.
	member := ""
	switch {
	case p.Embed == nil && p.Head == nil:
		member = b.Family.Base().Name
	case p.Embed != nil && p.Head != nil && p.Embed.Merge == nil && p.Head.Merge == nil && p.Embed.Model == p.Head.Model:
		member = p.Embed.Model
	}
	if member != "" {
		m, err := b.model(member)
		if err != nil {
			return nil, false, err
		}
		h, err = b.Loader.Head(m)
		return h, err == nil, err
	}
	key := p.OuterHash(p.Embed) + "/" + p.OuterHash(p.Head) + engine.QuantKey(b.quant)
	if w, ok := b.cache.Get("head", key); ok {
		return w.(*engine.Head), true, nil
	}
	cfg := b.Family.Base().Config
	b.cache.Reserve(engine.HeadBytes(cfg, b.panelFormat()))
	if h, err = engine.BuildHead(cfg, b.deployed(b.headSource(p))); err != nil {
		return nil, false, err
	}
	b.cache.Put("head", key, h)
	return h, true, nil
}

// CacheStats reports the merged layers' hits and misses and the bytes the
// layer cache holds (source and merged layers).
func (b *Builder) CacheStats() (hits, misses int, bytes int64) {
	st := b.cache.Stats("merge")
	now, _ := b.cache.Bytes()
	return st.Hits, st.Misses, now
}

// Cache is the builder's layer cache.
func (b *Builder) Cache() *engine.LayerCache { return b.cache }

// newChecks is an empty cache of repair checks.
func newChecks() *fifo[RepairCheck] {
	return &fifo[RepairCheck]{max: 1 << 16, size: func(RepairCheck) int64 { return 1 }}
}
