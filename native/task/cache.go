package task

import (
	"fmt"
	"os"
	"sync"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// Files and their token streams are read once per process: a search
// evaluates the same tasks hundreds of times. Keys include the file's size
// and modification time, so an edited file is read again.
var (
	docCache    sync.Map // docKey -> []corpus.Document
	streamCache sync.Map // streamKey -> [][]int
	windowCache sync.Map // windowKey -> [][]int
	itemCache   sync.Map // itemKey -> parsed items
)

type itemKey struct {
	doc  docKey
	kind string
}

// readItems reads and parses a task file once per process (per size and
// modification time).
func readItems[T any](path, kind string, parse func(raw []byte, path string) (T, error)) (T, error) {
	var zero T
	k, err := keyOf(path)
	if err != nil {
		return zero, err
	}
	ik := itemKey{k, kind}
	if v, ok := itemCache.Load(ik); ok {
		return v.(T), nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return zero, err
	}
	items, err := parse(raw, path)
	if err != nil {
		return zero, err
	}
	itemCache.Store(ik, items)
	return items, nil
}

type docKey struct {
	path  string
	size  int64
	mtime int64
}

type streamKey struct {
	doc docKey
	tok *tokenizer.Tokenizer
}

type windowKey struct {
	stream streamKey
	seq    int
}

func keyOf(path string) (docKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return docKey{}, err
	}
	return docKey{path, st.Size(), st.ModTime().UnixNano()}, nil
}

// readDocs is corpus.Read, cached.
func readDocs(path string) ([]corpus.Document, docKey, error) {
	k, err := keyOf(path)
	if err != nil {
		return nil, k, err
	}
	if v, ok := docCache.Load(k); ok {
		return v.([]corpus.Document), k, nil
	}
	docs, err := corpus.Read(path)
	if err != nil {
		return nil, k, err
	}
	docCache.Store(k, docs)
	return docs, k, nil
}

// streams tokenizes every document (with its special tokens), cached.
func streams(tok *tokenizer.Tokenizer, path string) ([]corpus.Document, [][]int, error) {
	docs, k, err := readDocs(path)
	if err != nil {
		return nil, nil, err
	}
	sk := streamKey{k, tok}
	if v, ok := streamCache.Load(sk); ok {
		return docs, v.([][]int), nil
	}
	out := make([][]int, len(docs))
	for i, d := range docs {
		out[i] = tok.Encode(d.Text, true)
	}
	streamCache.Store(sk, out)
	return docs, out, nil
}

// windows is corpus.Windows of a file's token streams, cached: the windows
// of the whole concatenated file, computed once per window length.
func windows(tok *tokenizer.Tokenizer, path string, seq int) ([][]int, error) {
	k, err := keyOf(path)
	if err != nil {
		return nil, err
	}
	wk := windowKey{streamKey{k, tok}, seq}
	if v, ok := windowCache.Load(wk); ok {
		return v.([][]int), nil
	}
	_, toks, err := streams(tok, path)
	if err != nil {
		return nil, err
	}
	w, err := corpus.Windows(toks, seq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	windowCache.Store(wk, w)
	return w, nil
}
