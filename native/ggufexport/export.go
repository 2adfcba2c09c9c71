// Package ggufexport writes a plan's model as one GGUF file llama.cpp
// loads: the architecture's metadata with the new layer count, the
// tokenizer (vocab.go), and the tensors under llama.cpp's names and
// layouts (arch.go), in F32, F16, BF16, Q8_0 or Q4_0. It reads the plan
// through build.Tensors (the same weights the safetensors build writes:
// merges, takes, repairs folded, skipped sub-blocks as zeros) one tensor
// at a time into a temporary file renamed into place at the end.
package ggufexport

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// Options control an export.
type Options struct {
	Out      string
	Type     gguf.Type // of the large matrices (see gguf.StorageType)
	Force    bool      // replace an existing Out
	Name     string    // general.name; the plan's name or Out's base name when empty
	Progress func(done, total int)
}

// Result says what was written.
type Result struct {
	Path    string
	Bytes   int64
	Tensors int
	Types   map[gguf.Type]int // tensors per stored type
	Notes   []string          // what general.description says beyond the plan
	Vocab   *Vocab
	BaseDir string
}

// wrapFile lets tests fail the write part-way (a full disk).
var wrapFile = defaultWrap

func defaultWrap(f *os.File) io.Writer { return f }

type pair struct {
	k string
	v any
}

func setAll(w *gguf.Writer, ps []pair) error {
	for _, p := range ps {
		if err := w.Set(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// Export writes plan p over the builder's family to opt.Out.
func Export(b *stitch.Builder, p *plan.Plan, opt Options) (*Result, error) {
	base := b.Family.Base()
	cfg := base.Config
	if opt.Out == "" {
		return nil, errors.New("no output file (-o MODEL.gguf)")
	}
	if st, err := os.Stat(opt.Out); err == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("output %s is a directory; --format gguf writes one file", opt.Out)
		}
		if !opt.Force {
			return nil, fmt.Errorf("output file %s exists (use --force to replace it)", opt.Out)
		}
	}
	if opt.Type.String() == fmt.Sprintf("type(%d)", uint32(opt.Type)) {
		return nil, fmt.Errorf("--type %s: f32, f16, bf16, q8_0 or q4_0", opt.Type)
	}
	arch, err := archFor(cfg.ModelType)
	if err != nil {
		return nil, err
	}
	ctx, notes, err := contextLength(cfg)
	if err != nil {
		return nil, err
	}
	vocab, err := LoadVocab(base.Dir, cfg)
	if err != nil {
		return nil, err
	}
	if opt.Type.Quantized() {
		// Repairs fitted on the quantized prefix, as eval, search and
		// serve --quant score the plan (stitch.Builder.Quantized).
		b = b.Quantized(opt.Type)
	}
	ts, fits, err := build.Tensors(b, p)
	if err != nil {
		return nil, err
	}
	fam, err := familyOf(arch, cfg, stitch.SlotKinds(p, cfg))
	if err != nil {
		return nil, err
	}
	notes = append(notes, fam.notes...)
	if n := embedScaleNote(cfg, ts[0].DType); n != "" {
		notes = append(notes, n)
	}
	notes = append(notes, planNotes(p, fits)...)
	name := opt.Name
	if name == "" {
		if name = p.Name; name == "" {
			name = strings.TrimSuffix(filepath.Base(opt.Out), filepath.Ext(opt.Out))
		}
	}
	if err := phi3Name(name, vocab); err != nil {
		return nil, err
	}
	w := gguf.NewWriter()
	a := arch.Name
	ps := []pair{
		{"general.architecture", a},
		{"general.type", "model"},
		{"general.name", name},
		{"general.description", description(b, p, notes)},
		{a + ".vocab_size", uint32(cfg.VocabSize)},
		{a + ".context_length", uint32(ctx)},
		{a + ".embedding_length", uint32(cfg.HiddenSize)},
		{a + ".block_count", uint32(len(p.Slots))},
		{a + ".feed_forward_length", uint32(cfg.IntermediateSize)},
		{a + ".attention.head_count", uint32(cfg.NumAttentionHeads)},
		{a + ".attention.head_count_kv", uint32(cfg.NumKeyValueHeads)},
		{a + ".rope.freq_base", float32(cfg.RopeTheta)},
		{a + ".attention.layer_norm_rms_epsilon", float32(cfg.RMSNormEps)},
		{a + ".rope.dimension_count", uint32(cfg.HeadDim)},
	}
	if cfg.HeadDim*cfg.NumAttentionHeads != cfg.HiddenSize {
		ps = append(ps, pair{a + ".attention.key_length", uint32(cfg.HeadDim)}, pair{a + ".attention.value_length", uint32(cfg.HeadDim)})
	}
	ps = append(ps, fam.keys...)
	ps = append(ps, pair{"general.file_type", opt.Type.FileType()}, pair{"general.quantization_version", uint32(2)})
	if err := setAll(w, ps); err != nil {
		return nil, err
	}
	if err := vocab.set(w); err != nil {
		return nil, err
	}

	// Tensors: the family's (rope factors), then the plan's in order.
	type src struct {
		t     *build.Tensor
		extra []float32
		adj   adjust
	}
	var srcs []src
	for _, e := range fam.extra {
		if err := w.AddTensor(gguf.TensorInfo{Name: e.name, Shape: []int{len(e.v)}, Type: gguf.F32}); err != nil {
			return nil, err
		}
		srcs = append(srcs, src{extra: e.v})
	}
	res := &Result{Path: opt.Out, Types: map[gguf.Type]int{}, Notes: notes, Vocab: vocab, BaseDir: base.Dir}
	for i := range ts {
		t := &ts[i]
		n, err := arch.tensorName(t)
		if err != nil {
			return nil, err
		}
		head := t.Role == build.OuterLMHead || (t.Role == build.OuterEmbed && cfg.TieWordEmbeddings)
		typ := gguf.StorageType(opt.Type, len(t.Shape), t.Shape[len(t.Shape)-1], head)
		if err := w.AddTensor(gguf.TensorInfo{Name: n, Shape: t.Shape, Type: typ}); err != nil {
			return nil, err
		}
		srcs = append(srcs, src{t: t, adj: fam.adjustFor(arch, t.Role)})
	}
	for _, ti := range w.Tensors() {
		res.Types[ti.Type]++
	}
	res.Tensors = len(w.Tensors())
	data := func(i int, ti gguf.TensorInfo) ([]byte, error) {
		defer func() {
			if opt.Progress != nil {
				opt.Progress(i+1, len(srcs))
			}
		}()
		if s := srcs[i]; s.t == nil {
			return gguf.Encode(gguf.F32, s.extra)
		}
		return encode(srcs[i].t, ti.Type, heads(arch, cfg, srcs[i].t.Role), srcs[i].adj)
	}
	if res.Bytes, err = writeFile(opt.Out, w, data); err != nil {
		return nil, err
	}
	return res, nil
}

// heads is the number of heads whose rows a q or k tensor permutes, 0
// for any other tensor.
func heads(a Arch, cfg *model.Config, role string) int {
	if !a.PermuteQK {
		return 0
	}
	switch role {
	case model.Q, model.QBias:
		return cfg.NumAttentionHeads
	case model.K, model.KBias:
		return cfg.NumKeyValueHeads
	}
	return 0
}

var sameType = map[safetensors.DType]gguf.Type{safetensors.F32: gguf.F32, safetensors.F16: gguf.F16, safetensors.BF16: gguf.BF16}

// encode produces one tensor's data: the stored bytes when the type is
// the source's and the values do not change (rows permuted in place),
// else float32 values adjusted and converted.
func encode(t *build.Tensor, typ gguf.Type, nHeads int, adj adjust) ([]byte, error) {
	rows := t.Shape[0]
	cols := 1
	for _, d := range t.Shape[1:] {
		cols *= d
	}
	if st, ok := sameType[t.DType]; ok && st == typ && !t.Zero && adj.identity() {
		b, err := t.Encode("")
		if err != nil || nHeads == 0 {
			return b, err
		}
		return permuteRows(b, rows, cols*len(b)/(rows*cols), nHeads), nil
	}
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	// A computed tensor (a merge, a repair) holds what the safetensors
	// build writes and the plan's net evaluates: rounded to its dtype.
	switch t.DType {
	case safetensors.BF16:
		bf16.Round(v)
	case safetensors.F16:
		f16.Round(v)
	}
	if !adj.identity() {
		adj.apply(v)
	}
	if nHeads > 0 {
		v = permuteRows(v, rows, cols, nHeads)
	}
	return gguf.Encode(typ, v)
}

// writeFile writes the file beside out and renames it into place, so a
// failure (a full disk) leaves no partial file behind.
func writeFile(out string, w *gguf.Writer, data func(int, gguf.TensorInfo) ([]byte, error)) (n int64, err error) {
	dir := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = w.Write(wrapFile(f), data); err != nil {
		return n, fmt.Errorf("writing %s: %w", out, err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("writing %s: %w", out, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("writing %s: %w", out, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return n, err
	}
	if err = os.Rename(tmp, out); err != nil {
		return n, err
	}
	return n, atomicfile.SyncDir(dir)
}

// contextLength is the context llama.cpp may use. llama.cpp's llama and
// phi3 graphs have no sliding window (phi3's loader turns it off): a
// Mistral or Phi-3 whose window is shorter than its context is written
// with the window as context (where both attend to everything); Qwen2 with
// use_sliding_window cannot be expressed. Gemma's sliding layers are keys
// of their own (families.go).
func contextLength(cfg *model.Config) (int, []string, error) {
	ctx := cfg.MaxPositionEmbeddings
	win := cfg.Window()
	if win <= 0 || win >= ctx || cfg.Spec().LayerKinds != "" { // Gemma's windows are keys (families.go)
		return ctx, nil, nil
	}
	if cfg.ModelType == "qwen2" {
		return 0, nil, fmt.Errorf("config.json: use_sliding_window with sliding_window %d < max_position_embeddings %d: llama.cpp's qwen2 graph attends to the whole context, so no GGUF file computes this model", win, ctx)
	}
	return win, []string{fmt.Sprintf("context_length is the sliding window (%d tokens): llama.cpp's %s graph attends to the whole context, which equals the window only up to its length", win, cfg.ModelType)}, nil
}

// ropeFactors are llama3 rope scaling's per-frequency divisors, as
// convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors computes them
// (rope_freqs.weight); nil without scaling.
func ropeFactors(cfg *model.Config) []float32 {
	rs := cfg.RopeScaling
	if rs == nil || !strings.EqualFold(rs.RopeType, "llama3") && !strings.EqualFold(rs.Type, "llama3") {
		return nil
	}
	factor, lo, hi, old := rs.Factor, rs.LowFreqFactor, rs.HighFreqFactor, float64(rs.OriginalMaxPositionEmbeddings)
	if factor == 0 {
		factor = 8
	}
	if lo == 0 {
		lo = 1
	}
	if hi == 0 {
		hi = 4
	}
	if old == 0 {
		old = 8192
	}
	dim := cfg.HeadDim
	out := make([]float32, dim/2)
	for i := range out {
		freq := 1 / math.Pow(cfg.RopeTheta, float64(float32(2*i)/float32(dim)))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < old/hi:
			out[i] = 1
		case wavelen > old/lo:
			out[i] = float32(factor)
		default:
			smooth := (old/wavelen - lo) / (hi - lo)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}
