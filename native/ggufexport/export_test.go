package ggufexport

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// The file holds exactly the plan's weights, stored as gguf.StorageType
// says (decoded by an independent reader), with the new block count.
func TestExportHoldsThePlan(t *testing.T) {
	dir := t.TempDir()
	for _, c := range cases {
		for _, typ := range allTypes {
			path, b, p := c.export(t, dir, typ)
			gf, vals, types := readBack(t, path)
			cfg := b.Family.Base().Config
			arch := Architectures[cfg.ModelType]
			if got := meta(t, gf, arch.Name+".block_count").ValueUint32(); int(got) != len(p.Slots) {
				t.Errorf("%s: block_count %d, the plan has %d slots", c.name, got, len(p.Slots))
			}
			if got := meta(t, gf, "tokenizer.ggml.tokens").ValueArray().Len; int(got) != cfg.VocabSize {
				t.Errorf("%s: %d tokens, vocab_size %d", c.name, got, cfg.VocabSize)
			}
			if got := meta(t, gf, "general.file_type").ValueUint32(); got != typ.FileType() {
				t.Errorf("%s: file_type %d, want %d", c.name, got, typ.FileType())
			}
			// A quantized file's repairs are fitted on the quantized prefix
			// (what eval --quant scores): its builder is the quantized view.
			ts, _, err := build.Tensors(b.Quantized(typ), p)
			if err != nil {
				t.Fatal(err)
			}
			extra := ropeTensorsWanted(cfg)
			if len(vals) != len(ts)+len(extra) {
				t.Errorf("%s %s: %d tensors, the plan has %d and the family %d", c.name, typ, len(vals), len(ts), len(extra))
			}
			for name, want := range extra {
				if got := vals[name]; !slices.Equal(got, want) {
					t.Errorf("%s %s: %s = %v, want %v", c.name, typ, name, got, want)
				}
			}
			for i := range ts {
				tn := &ts[i]
				name, _ := arch.tensorName(tn)
				// What the safetensors build writes for it.
				raw, err := tn.Encode("")
				if err != nil {
					t.Fatal(err)
				}
				want, err := safetensors.ToFloat32(tn.DType, raw)
				if err != nil {
					t.Fatal(err)
				}
				want = wantAdjusted(cfg, len(p.Slots), tn.Role, want)
				head := tn.Role == build.OuterLMHead || (tn.Role == build.OuterEmbed && cfg.TieWordEmbeddings)
				st := gguf.StorageType(typ, len(tn.Shape), tn.Shape[len(tn.Shape)-1], head)
				if types[name] != st {
					t.Errorf("%s %s: %s stored as %s, want %s", c.name, typ, name, types[name], st)
				}
				if err := gguf.RoundTrip(st, want); err != nil {
					t.Fatal(err)
				}
				got := vals[name]
				if len(got) != len(want) {
					t.Fatalf("%s %s: %s has %d values, want %d", c.name, typ, name, len(got), len(want))
				}
				for k := range got {
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("%s %s: %s[%d] = %g, the plan's is %g", c.name, typ, name, k, got[k], want[k])
					}
				}
			}
			if strings.Contains(c.name, "subblock") {
				d := meta(t, gf, "general.description").ValueString()
				if !strings.Contains(d, "block 2 attention") || !strings.Contains(d, "block 3 MLP") || !strings.Contains(d, "zero tensors") {
					t.Errorf("general.description does not say which sub-blocks are skipped: %s", d)
				}
			}
		}
	}
}

func TestExportBadInput(t *testing.T) {
	dir := t.TempDir()
	c := cases[0]
	out, b, p := c.export(t, dir, gguf.F16)
	if _, err := Export(b, p, Options{Out: out, Type: gguf.F16}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing output: %v", err)
	}
	if _, err := Export(b, p, Options{Out: out, Type: gguf.F16, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
	if _, err := Export(b, p, Options{Out: filepath.Join(dir, "x.gguf"), Type: gguf.Type(7)}); err == nil || !strings.Contains(err.Error(), "--type") {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := archFor("gemma"); err == nil || !strings.Contains(err.Error(), `model_type "gemma"`) {
		t.Errorf("unmapped architecture: %v", err)
	}

	// A disk that fills part-way: an error, and nothing left behind.
	wrapFile = func(f *os.File) io.Writer { return &fullDisk{f: f, left: 4000} }
	defer func() { wrapFile = defaultWrap }()
	sub := filepath.Join(dir, "full")
	os.MkdirAll(sub, 0o755)
	_, err := Export(b, p, Options{Out: filepath.Join(sub, "m.gguf"), Type: gguf.F32})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("full disk: %v", err)
	}
	if ents, _ := os.ReadDir(sub); len(ents) != 0 {
		t.Errorf("a failed export left %v", ents)
	}
}

type fullDisk struct {
	f    *os.File
	left int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) > d.left {
		n, _ := d.f.Write(p[:d.left])
		d.left = 0
		return n, syscall.ENOSPC
	}
	d.left -= len(p)
	return d.f.Write(p)
}

// wantAdjusted is what the file holds for a plan tensor, from llama.cpp's
// loaders and convert_hf_to_gguf.py rather than this package's code:
// Gemma's RMSNorm weights plus 1 (Gemma2Model/Gemma3Model.modify_tensors),
// and queries rescaled from Hugging Face's 1/√query_pre_attn_scalar to
// llama.cpp's 1/√head_dim (1/√(hidden/heads) for gemma2 at 46 blocks,
// gemma3 at 62), in q_proj for Gemma 2 and in q_norm for Gemma 3.
func wantAdjusted(cfg *model.Config, blocks int, role string, v []float32) []float32 {
	gemma2, gemma3 := cfg.ModelType == "gemma2", cfg.ModelType == "gemma3_text"
	if !gemma2 && !gemma3 {
		return v
	}
	out := slices.Clone(v)
	if model.NormRole(role) || role == build.OuterNorm {
		for i := range out {
			out[i] += 1
		}
	}
	d := cfg.HeadDim
	if gemma2 && blocks == 46 || gemma3 && blocks == 62 {
		d = cfg.HiddenSize / cfg.NumAttentionHeads
	}
	c := float32(math.Sqrt(float64(d) / *cfg.QueryPreAttnScalar))
	if gemma2 && (role == model.Q || role == model.QBias) || gemma3 && role == model.QNorm {
		for i := range out {
			out[i] *= c
		}
	}
	return out
}

// ropeTensorsWanted are the rope factor tensors llama.cpp reads for the
// config: Phi-3's longrope factors (Phi3MiniModel.generate_extra_tensors).
func ropeTensorsWanted(cfg *model.Config) map[string][]float32 {
	rs := cfg.RopeScaling
	if rs == nil || rs.RopeType != "longrope" {
		return nil
	}
	conv := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	return map[string][]float32{"rope_factors_long.weight": conv(rs.LongFactor), "rope_factors_short.weight": conv(rs.ShortFactor)}
}
