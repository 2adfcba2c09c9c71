package server

import (
	"context"
	"fmt"
	"sort"

	"github.com/gptailor/gptailor/native/scorer"
)

// scorerStore holds the uploaded scoring modules by name, bounded in count
// and in module bytes (compiled code is several times the upload). A new
// upload past a bound evicts the least recently used modules other than
// the selected one; one that cannot fit even then is refused. The caller
// holds Server.mu.
type scorerStore struct {
	maxCount int
	maxBytes int
	byName   map[string]*storedScorer
	clock    int
}

type storedScorer struct {
	m    *scorer.Module
	used int
}

func newScorerStore(maxCount, maxBytes int) *scorerStore {
	return &scorerStore{maxCount: maxCount, maxBytes: maxBytes, byName: map[string]*storedScorer{}}
}

func (st *scorerStore) get(name string) *scorer.Module {
	e, ok := st.byName[name]
	if !ok {
		return nil
	}
	st.clock++
	e.used = st.clock
	return e.m
}

func (st *scorerStore) names() []string {
	out := make([]string, 0, len(st.byName))
	for n := range st.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (st *scorerStore) bytes() int {
	n := 0
	for _, e := range st.byName {
		n += e.m.Size
	}
	return n
}

// put stores m under its name, evicting to stay within the bounds; it
// returns the evicted names. Modules no longer referenced are unloaded.
func (st *scorerStore) put(h *scorer.Host, m *scorer.Module, selected string) ([]string, error) {
	if m.Size > st.maxBytes {
		return nil, fmt.Errorf("scorer %s: %d bytes is more than the server keeps (%d)", m.Name, m.Size, st.maxBytes)
	}
	old := st.byName[m.Name]
	delete(st.byName, m.Name)
	var evicted []string
	for len(st.byName)+1 > st.maxCount || st.bytes()+m.Size > st.maxBytes {
		victim, oldest := "", 0
		for n, e := range st.byName {
			if n != selected && (victim == "" || e.used < oldest) {
				victim, oldest = n, e.used
			}
		}
		if victim == "" {
			if old != nil {
				st.byName[m.Name] = old
			}
			return nil, fmt.Errorf("scorer %s: no room (the selected scorer alone fills the store of %d modules, %d bytes); select none and upload again", m.Name, st.maxCount, st.maxBytes)
		}
		st.release(h, st.byName[victim].m, victim)
		evicted = append(evicted, victim)
	}
	if old != nil && old.m.Hash != m.Hash {
		st.release(h, old.m, m.Name)
	}
	st.clock++
	st.byName[m.Name] = &storedScorer{m: m, used: st.clock}
	sort.Strings(evicted)
	return evicted, nil
}

// release removes name and unloads its module unless another name holds
// the same bytes.
func (st *scorerStore) release(h *scorer.Host, m *scorer.Module, name string) {
	delete(st.byName, name)
	for _, e := range st.byName {
		if e.m.Hash == m.Hash {
			return
		}
	}
	h.Unload(context.Background(), m)
}
