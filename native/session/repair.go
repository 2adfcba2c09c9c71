package session

import (
	"fmt"
	"os"
	"sync"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// CalibrationReader returns the function a stitch.Builder reads a repair's
// calibration windows with: the file's documents (text, or JSONL with a
// "text" field) tokenized and cut into windows of the repair's seq tokens
// (capped by maxPos when > 0), the first `samples` of them. Windows are
// kept per file (path, size and modification time), length and count.
func CalibrationReader(tok *tokenizer.Tokenizer, maxPos int) func(*plan.Repair) ([][]int, error) {
	var mu sync.Mutex
	cache := map[string][][]int{}
	return func(r *plan.Repair) ([][]int, error) {
		st, err := os.Stat(r.Calibration)
		if err != nil {
			return nil, err
		}
		seq := r.SeqOr()
		if maxPos > 0 {
			seq = min(seq, maxPos)
		}
		key := fmt.Sprintf("%s|%d|%d|%d|%d", r.Calibration, st.Size(), st.ModTime().UnixNano(), seq, r.SamplesOr())
		mu.Lock()
		w, ok := cache[key]
		mu.Unlock()
		if ok {
			return w, nil
		}
		docs, err := corpus.Read(r.Calibration)
		if err != nil {
			return nil, err
		}
		streams := make([][]int, len(docs))
		for i, d := range docs {
			streams[i] = tok.Encode(d.Text, true)
		}
		w, err = corpus.Windows(streams, seq)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Calibration, err)
		}
		w = w[:min(len(w), r.SamplesOr())]
		mu.Lock()
		cache[key] = w
		mu.Unlock()
		return w, nil
	}
}
