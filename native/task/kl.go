package task

import (
	"github.com/gptailor/gptailor/native/atomicfile"

	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// CacheDir is where reference log-probs are kept ($GPTAILOR_CACHE, else
// the user cache directory).
func CacheDir() string {
	if d := os.Getenv("GPTAILOR_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gptailor")
	}
	return filepath.Join(os.TempDir(), "gptailor-cache")
}

// topK is a reference distribution cut to its k most likely tokens.
type topK struct {
	k   int
	ids []int32   // rows × k
	lps []float32 // rows × k
}

// runKL measures the mean KL(reference ‖ candidate) of the next-token
// distributions on calibration text. The reference's top-k log-probs are
// cached on disk; the mass outside them is one extra bucket on both sides.
func runKL(m *Model, s *Spec) (*Result, error) {
	docs, toks, err := streams(m.Tok, s.Path)
	if err != nil {
		return nil, err
	}
	idx := s.selectIdx(len(docs))
	var sel [][]int
	for _, i := range idx {
		sel = append(sel, toks[i])
	}
	seq := windowOf(m, s)
	windows, err := corpus.Windows(sel, seq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if len(windows) == 0 {
		return nil, fmt.Errorf("%s: no token to predict", s.Path)
	}
	k := s.TopK
	if k <= 0 {
		k = 64
	}
	k = min(k, m.Net.Cfg.VocabSize)
	ref, err := referenceTopK(s, windows, k, m.Net.Cfg.VocabSize)
	if err != nil {
		return nil, err
	}
	// Rows of every window, in order.
	offsets := make([]int, len(windows)+1)
	for i, w := range windows {
		offsets[i+1] = offsets[i] + len(w) - 1
	}
	perWindow := make([]float64, len(windows))
	err = workers(m.Net, (len(windows)+engine.WindowBatch-1)/engine.WindowBatch, func(b int) error {
		lo, hi := b*engine.WindowBatch, min((b+1)*engine.WindowBatch, len(windows))
		var seqs []engine.Seq
		var rows []engine.Row
		var global []int
		for wi := lo; wi < hi; wi++ {
			seqs = append(seqs, engine.Seq{Tokens: windows[wi]})
			for t := 0; t+1 < len(windows[wi]); t++ {
				rows = append(rows, engine.Row{Seq: wi - lo, Row: t})
				global = append(global, offsets[wi]+t)
			}
		}
		kl := make([]float64, len(rows))
		err := m.Net.Rows(seqs, rows, func(i int, l []float32) {
			lse := kernel.LogSumExp(l)
			g := global[i]
			var d, pIn, qIn float64
			for j := 0; j < k; j++ {
				lp := float64(ref.lps[g*k+j])
				lq := float64(l[ref.ids[g*k+j]]) - lse
				p := math.Exp(lp)
				d += p * (lp - lq)
				pIn += p
				qIn += math.Exp(lq)
			}
			pt, qt := math.Max(1-pIn, 0), math.Max(1-qIn, 1e-12)
			if pt > 1e-12 {
				d += pt * (math.Log(pt) - math.Log(qt))
			}
			kl[i] = math.Max(d, 0)
		})
		if err != nil {
			return err
		}
		for i, r := range rows {
			perWindow[lo+r.Seq] += kl[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var total float64
	samples := make([]Sample, len(windows))
	for i, w := range windows {
		total += perWindow[i]
		samples[i] = Sample{Index: i, Tokens: len(w) - 1, NLL: perWindow[i]}
	}
	met := map[string]float64{"kl": total / float64(offsets[len(windows)])}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(docs), NEffective: len(idx)}, nil
}

// referenceTopK computes (or reads from the cache) the reference model's
// top-k log-probs for every predicted row of the windows.
func referenceTopK(s *Spec, windows [][]int, k, vocab int) (*topK, error) {
	key, err := cacheKey(s, windows, k)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(CacheDir(), "kl", key+".bin")
	rows := 0
	for _, w := range windows {
		rows += len(w) - 1
	}
	if t, err := readTopK(path, rows, k); err == nil {
		return t, nil
	}
	rm, err := model.Open(s.Reference)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer rm.Close()
	if rm.Config.VocabSize != vocab {
		return nil, fmt.Errorf("reference %s has a vocabulary of %d, the candidate %d", s.Reference, rm.Config.VocabSize, vocab)
	}
	net, err := engine.NewLoader().Net(rm, nil)
	if err != nil {
		return nil, err
	}
	t := &topK{k: k, ids: make([]int32, rows*k), lps: make([]float32, rows*k)}
	g := 0
	for lo := 0; lo < len(windows); lo += engine.WindowBatch {
		hi := min(lo+engine.WindowBatch, len(windows))
		var seqs []engine.Seq
		var rr []engine.Row
		for wi := lo; wi < hi; wi++ {
			seqs = append(seqs, engine.Seq{Tokens: windows[wi]})
			for p := 0; p+1 < len(windows[wi]); p++ {
				rr = append(rr, engine.Row{Seq: wi - lo, Row: p})
			}
		}
		base := g
		err := net.Rows(seqs, rr, func(i int, l []float32) {
			lse := kernel.LogSumExp(l)
			order := make([]int32, len(l))
			for j := range order {
				order[j] = int32(j)
			}
			sort.Slice(order, func(a, b int) bool { return l[order[a]] > l[order[b]] })
			for j := 0; j < k; j++ {
				t.ids[(base+i)*k+j] = order[j]
				t.lps[(base+i)*k+j] = float32(float64(l[order[j]]) - lse)
			}
		})
		if err != nil {
			return nil, err
		}
		g += len(rr)
	}
	_ = writeTopK(path, t) // a cache that cannot be written only costs time
	return t, nil
}

// cacheKey identifies the reference (directory, config and weight files'
// sizes and times), the exact windows and k.
func cacheKey(s *Spec, windows [][]int, k int) (string, error) {
	h := sha256.New()
	abs, err := filepath.Abs(s.Reference)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "ref=%s|k=%d|", abs, k)
	ents, err := os.ReadDir(s.Reference)
	if err != nil {
		return "", fmt.Errorf("reference: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && (filepath.Ext(e.Name()) == ".safetensors" || e.Name() == "config.json") {
			fmt.Fprintf(h, "%s:%d:%d|", e.Name(), info.Size(), info.ModTime().UnixNano())
		}
	}
	var b [4]byte
	for _, w := range windows {
		binary.LittleEndian.PutUint32(b[:], uint32(len(w)))
		h.Write(b[:])
		for _, id := range w {
			binary.LittleEndian.PutUint32(b[:], uint32(id))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

var topKMagic = []byte("gptailor-topk-v1")

func writeTopK(path string, t *topK) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Write(topKMagic)
	binary.Write(&buf, binary.LittleEndian, int64(len(t.ids)/t.k))
	binary.Write(&buf, binary.LittleEndian, int64(t.k))
	binary.Write(&buf, binary.LittleEndian, t.ids)
	binary.Write(&buf, binary.LittleEndian, t.lps)
	return atomicfile.Write(path, buf.Bytes(), 0o644)
}

func readTopK(path string, rows, k int) (*topK, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(raw)
	magic := make([]byte, len(topKMagic))
	r.Read(magic)
	var n, kk int64
	binary.Read(r, binary.LittleEndian, &n)
	binary.Read(r, binary.LittleEndian, &kk)
	if !bytes.Equal(magic, topKMagic) || int(n) != rows || int(kk) != k || len(raw) != len(topKMagic)+16+rows*k*8 {
		return nil, fmt.Errorf("%s: not a matching cache file", path)
	}
	t := &topK{k: k, ids: make([]int32, rows*k), lps: make([]float32, rows*k)}
	binary.Read(r, binary.LittleEndian, t.ids)
	binary.Read(r, binary.LittleEndian, t.lps)
	return t, nil
}
