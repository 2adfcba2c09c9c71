package session

import (
	"fmt"
	"os"
	"sync"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// CheckRepair refuses a repair template before any work: an unknown
// method, a calibration file that cannot be read or gives fewer tokens
// than the hidden size.
func (f *Family) CheckRepair(r *plan.Repair) error {
	if ps := r.Check(); len(ps) > 0 {
		return fmt.Errorf("repair: %w", ps)
	}
	all, err := f.Builder.Calibrate(r)
	if err != nil {
		return fmt.Errorf("repair calibration %s: %w", r.Calibration, err)
	}
	w, _ := stitch.SplitCalibration(all, r.SamplesOr())
	n := 0
	for _, x := range w {
		n += len(x)
	}
	if d := f.Base().Config.HiddenSize; n < d {
		return fmt.Errorf("repair calibration %s: %d tokens in %d windows, fewer than the hidden size %d: give more text or more samples (--repair-samples)", r.Calibration, n, len(w), d)
	}
	return nil
}

// WithRepair is p with the repair r when p has a cut to repair, else p.
func WithRepair(p *plan.Plan, r *plan.Repair, layers int) *plan.Plan {
	if r == nil || p == nil || len(p.Repairable(layers)) == 0 {
		return p
	}
	q := *p
	rr := *r
	q.Repair = &rr
	return &q
}

// CalibrationReader returns the function a stitch.Builder reads a repair's
// calibration windows with: the file's documents (text, or JSONL with a
// "text" field) tokenized and cut into windows of the repair's seq tokens
// (capped by maxPos when > 0), the first `samples` of them and the
// held-out ones after them (stitch.SplitCalibration). Windows are
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
		count := stitch.CalibrationWindows(r) // the fit's and the held-out ones
		// Only the tokens the windows need are read and tokenized (a 61 MB
		// one-line JSONL took 8 GB for 8,192 tokens): documents stream
		// until there are enough, and a long one is cut to what is left.
		streams, _, err := corpus.TokenStreams(r.Calibration, tok.Encode, 0, seq*count+seq, maxBytesPerToken)
		if err != nil {
			return nil, err
		}
		w, err = corpus.Windows(streams, seq)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Calibration, err)
		}
		w = w[:min(len(w), count)]
		mu.Lock()
		cache[key] = w
		mu.Unlock()
		return w, nil
	}
}

// maxBytesPerToken bounds the text read per calibration token still
// needed: byte-level tokenizers make a token of at most a few bytes, and
// a token is never longer than its text.
const maxBytesPerToken = 64
