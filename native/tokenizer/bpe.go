package tokenizer

import (
	"container/heap"
	"fmt"
	"unicode/utf8"
)

// bpe is the BPE model of a tokenizer.json: a vocabulary, merges by rank,
// and the unknown-token / byte-fallback rules.
type bpe struct {
	vocab        map[string]int
	merges       map[uint64]merge // (left id, right id) -> rank and merged id
	unkID        int              // -1 if none
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	byteIDs      [256]int // <0xNN> ids, -1 where missing
	mergeList    [][2]string
}

type merge struct {
	rank int
	id   int
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newBPE(vocab map[string]int, mergeList [][2]string, unk string, byteFallback, fuseUnk, ignoreMerges bool) (*bpe, error) {
	m := &bpe{vocab: vocab, merges: make(map[uint64]merge, len(mergeList)), unkID: -1,
		byteFallback: byteFallback, fuseUnk: fuseUnk, ignoreMerges: ignoreMerges, mergeList: mergeList}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("field model.unk_token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	for rank, p := range mergeList {
		a, okA := vocab[p[0]]
		b, okB := vocab[p[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("field model.merges[%d]: %q %q uses a token not in the vocabulary", rank, p[0], p[1])
		}
		id, ok := vocab[p[0]+p[1]]
		if !ok {
			return nil, fmt.Errorf("field model.merges[%d]: merged token %q is not in the vocabulary", rank, p[0]+p[1])
		}
		k := pairKey(a, b)
		if _, dup := m.merges[k]; !dup { // the first (lowest-rank) occurrence wins
			m.merges[k] = merge{rank: rank, id: id}
		}
	}
	return m, nil
}

// symbol is one piece of a word during merging (a doubly linked list).
type symbol struct {
	id         int
	start, end int // byte range in the word
	prev, next int
}

type candidate struct {
	rank, pos int // pos: index of the left symbol
	leftEnd   int // byte end of the left symbol when queued, to detect stale entries
	rightEnd  int
}

type candHeap []candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// encodeWord appends the ids of one pre-tokenized word.
func (m *bpe) encodeWord(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	// Initial symbols, as the reference builds them: a vocabulary character,
	// else its <0xNN> bytes (byte fallback), else the unknown token (runs of
	// unknowns fused when fuse_unk). All of them take part in merges.
	syms := make([]symbol, 0, len(word))
	add := func(id, start, end int) {
		syms = append(syms, symbol{id: id, start: start, end: end, prev: len(syms) - 1, next: len(syms) + 1})
	}
	unkStart := -1
	flushUnk := func(end int) {
		if unkStart >= 0 {
			add(m.unkID, unkStart, end)
			unkStart = -1
		}
	}
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		piece := word[i : i+size]
		if id, ok := m.vocab[piece]; ok {
			flushUnk(i)
			add(id, i, i+size)
			i += size
			continue
		}
		if m.byteFallback && m.hasBytes(piece) {
			flushUnk(i)
			for k := 0; k < size; k++ {
				add(m.byteIDs[piece[k]], i+k, i+k+1)
			}
			i += size
			continue
		}
		if m.unkID >= 0 {
			if !m.fuseUnk {
				flushUnk(i)
			}
			if unkStart < 0 {
				unkStart = i
			}
		}
		i += size
	}
	flushUnk(len(word))
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1

	h := candHeap{}
	push := func(i int) {
		j := syms[i].next
		if j < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(syms[i].id, syms[j].id)]; ok {
			heap.Push(&h, candidate{rank: mg.rank, pos: i, leftEnd: syms[i].end, rightEnd: syms[j].end})
		}
	}
	for i := range syms {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(&h).(candidate)
		l := &syms[c.pos]
		if l.end != c.leftEnd || l.next < 0 { // stale: left changed or was absorbed
			continue
		}
		r := &syms[l.next]
		if r.end != c.rightEnd {
			continue
		}
		mg, ok := m.merges[pairKey(l.id, r.id)]
		if !ok || mg.rank != c.rank {
			continue
		}
		// Merge r into l.
		l.id = mg.id
		l.end = r.end
		l.next = r.next
		r.end = -1 // mark absorbed
		if l.next >= 0 {
			syms[l.next].prev = c.pos
		}
		if l.prev >= 0 {
			push(l.prev)
		}
		push(c.pos)
	}
	for i := 0; i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out
}

func (m *bpe) hasBytes(piece string) bool {
	for k := 0; k < len(piece); k++ {
		if m.byteIDs[piece[k]] < 0 {
			return false
		}
	}
	return true
}
