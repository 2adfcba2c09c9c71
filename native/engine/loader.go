package engine

import (
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/model"
)

// Loader reads and packs source layers and heads and shares them: every net
// built from the same model layer points at the same packed weights while
// the layer is in the cache (Cache: unbounded by default; a bounded one
// re-reads an evicted layer from its checkpoint when it is needed again).
type Loader struct {
	Cache *LayerCache
	mu    sync.Mutex
	heads map[string]*Head
}

// NewLoader returns an empty loader whose layers are never evicted.
func NewLoader() *Loader { return NewLoaderWithCache(NewLayerCache(-1)) }

// NewLoaderWithCache returns a loader keeping its source layers in c.
func NewLoaderWithCache(c *LayerCache) *Loader {
	return &Loader{Cache: c, heads: map[string]*Head{}}
}

// Layer returns layer i of m, reading it when it is not cached. The layer
// is pinned in the cache until the net it goes into is collected
// (LayerCache.Adopt) or the caller unpins it.
func (l *Loader) Layer(m *model.Model, i int) (*Layer, error) {
	key := fmt.Sprintf("%s\x00%d", m.Dir, i)
	if ly, ok := l.Cache.Get("source", key); ok {
		return ly.(*Layer), nil
	}
	l.mu.Lock() // one read at a time: two nets asking at once share it
	defer l.mu.Unlock()
	if ly, ok := l.Cache.Get("source", key); ok {
		return ly.(*Layer), nil
	}
	ly, err := LoadLayer(m, i)
	if err != nil {
		return nil, err
	}
	l.Cache.Put("source", key, ly)
	return ly, nil
}

// Head returns m's head, reading it on first use.
func (l *Loader) Head(m *model.Model) (*Head, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.heads[m.Dir]; ok {
		return h, nil
	}
	h, err := LoadHead(m)
	if err != nil {
		return nil, err
	}
	l.heads[m.Dir] = h
	return h, nil
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
			return nil, fmt.Errorf("model %s: layer %d out of range [0, %d)", m.Name, i, m.Config.NumHiddenLayers)
		}
		if ls[k], err = l.Layer(m, i); err != nil {
			l.Cache.Unpin(ls)
			return nil, err
		}
	}
	net := NewNet(m.Config, h, ls)
	l.Cache.Adopt(net, false)
	return net, nil
}
