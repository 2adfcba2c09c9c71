package engine

import (
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// Loader reads and packs source layers and heads and shares them: every net
// built from the same model layer points at the same packed weights while
// the layer is in the cache (Cache: unbounded by default; a bounded one
// re-reads an evicted layer from its checkpoint when it is needed again).
type Loader struct {
	Cache *LayerCache
	// Quant, when set, stores every weight as a GGUF file of this type
	// would before packing (QuantSource): eval --quant.
	Quant gguf.Type
	mu    sync.Mutex
}

// NewLoader returns an empty loader whose layers are never evicted.
func NewLoader() *Loader { return NewLoaderWithCache(NewLayerCache(-1)) }

// NewLoaderWithCache returns a loader keeping its source layers in c.
func NewLoaderWithCache(c *LayerCache) *Loader {
	return &Loader{Cache: c}
}

// Layer returns layer i of m, reading it when it is not cached. The layer
// is pinned in the cache until the net it goes into is collected
// (LayerCache.Adopt) or the caller unpins it.
func (l *Loader) Layer(m *model.Model, i int) (*Layer, error) {
	key := fmt.Sprintf("%s\x00%d", m.Dir, i) + QuantKey(l.Quant)
	if ly, ok := l.Cache.Get("source", key); ok {
		return ly.(*Layer), nil
	}
	l.mu.Lock() // one read at a time: two nets asking at once share it
	defer l.mu.Unlock()
	if ly, ok := l.Cache.Get("source", key); ok {
		return ly.(*Layer), nil
	}
	l.Cache.Reserve(LayerBytes(m.Config, l.format(WeightFormat(m, i))))
	var ly *Layer
	var err error
	if l.Quant != gguf.F32 {
		ly, err = BuildLayer(m.Config, QuantSource(CheckpointSource(m, i), m.Config, l.Quant), true)
		if err == nil {
			ly.Kind = m.Config.KindAt(i)
		}
	} else {
		ly, err = LoadLayer(m, i)
	}
	if err != nil {
		return nil, err
	}
	l.Cache.Put("source", key, ly)
	return ly, nil
}

// Head returns m's head, reading it when it is not cached. Heads live in
// the same byte-bounded cache as the layers (a 1B model's is 0.5 GB: four
// members' heads kept outside the bound were 2 GB of a search's peak); the
// head is pinned until the net it goes into is collected (LayerCache.Adopt
// with pinnedHead) or the caller unpins it (UnpinHead).
func (l *Loader) Head(m *model.Model) (*Head, error) {
	key := "member\x00" + m.Dir + QuantKey(l.Quant)
	if h, ok := l.Cache.Get("head", key); ok {
		return h.(*Head), nil
	}
	l.mu.Lock() // one read at a time: two nets asking at once share it
	defer l.mu.Unlock()
	if h, ok := l.Cache.Get("head", key); ok {
		return h.(*Head), nil
	}
	l.Cache.Reserve(HeadBytes(m.Config, l.format(CheckpointSource(m, -1).Format(HeadEmbed))))
	var h *Head
	var err error
	if l.Quant != gguf.F32 {
		h, err = BuildHead(m.Config, QuantSource(CheckpointSource(m, -1), m.Config, l.Quant))
	} else {
		h, err = LoadHead(m)
	}
	if err != nil {
		return nil, err
	}
	l.Cache.Put("head", key, h)
	return h, nil
}

// Quantized is a loader over the same cache whose layers and heads are
// packed with the weights a GGUF file of type t stores (t F32: full
// precision); they are cached under their own keys (QuantKey).
func (l *Loader) Quantized(t gguf.Type) *Loader {
	return &Loader{Cache: l.Cache, Quant: t}
}

// format is the panels' format of weights stored as f: float32 when
// quantized (QuantSource).
func (l *Loader) format(f kernel.Format) kernel.Format {
	if l.Quant != gguf.F32 {
		return kernel.F32
	}
	return f
}

// Net builds a net from m's head and the given layers of m, in order (nil:
// all of them). Dropping or repeating a layer is just another list.
func (l *Loader) Net(m *model.Model, layers []int) (*Net, error) {
	if layers == nil {
		for i := 0; i < m.Config.NumHiddenLayers; i++ {
			layers = append(layers, i)
		}
	}
	h, err := l.Head(m)
	if err != nil {
		return nil, err
	}
	ls := make([]*Layer, len(layers))
	for k, i := range layers {
		if i < 0 || i >= m.Config.NumHiddenLayers {
			l.Cache.Unpin(ls)
			l.Cache.UnpinHead(h)
			return nil, fmt.Errorf("model %s: layer %d out of range [0, %d)", m.Name, i, m.Config.NumHiddenLayers)
		}
		if ls[k], err = l.Layer(m, i); err != nil {
			l.Cache.Unpin(ls)
			l.Cache.UnpinHead(h)
			return nil, err
		}
	}
	net := NewNet(m.Config, h, ls)
	l.Cache.Adopt(net, true)
	return net, nil
}
