package ggufexport

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/gptailor/gptailor/internal/testenv"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// exportCase is a family and a plan over it.
type exportCase struct {
	name    string
	members map[string]string // alias → directory
	plan    string            // JSON (slots etc.)
}

func repoPath(p ...string) string { return filepath.Join(append([]string{testenv.Repo()}, p...)...) }

func demoDirs(aliases ...string) map[string]string {
	m := map[string]string{}
	for _, a := range aliases {
		m[a] = repoPath("testdata", "stories260K-"+a)
	}
	return m
}

var cases = []exportCase{
	{"demo-base", demoDirs("base"), `{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",3]},{"take":["base",4]}]}`},
	{"demo-merges", demoDirs("base", "code", "docs", "math"), `{"slots":[{"take":["base",0]},{"merge":{"method":"task_arithmetic","layer":1,"models":["code","math"],"lambda":0.5}},{"take":["code",2]},{"merge":{"method":"ties","layer":4,"models":["docs","math"],"density":0.5,"lambda":1.0}}]}`},
	{"demo-subblock", demoDirs("base", "code", "math"), `{"slots":[{"take":["base",0]},{"take":["code",1],"mlp":["math",1]},{"take":["base",2],"attn":"none"},{"take":["base",3],"mlp":"none"},{"take":["base",4]}]}`},
	{"demo-repaired", demoDirs("base"), `{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",4]}],"repair":{"method":"linear","calibration":"` + repoPath("testdata", "data", "stories.jsonl") + `","samples":16}}`},
	{"bf16-sharded", map[string]string{"base": repoPath("testdata", "stories260K-base-bf16-sharded")}, `{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",3]},{"take":["base",4]}]}`},
	{"qwen2", map[string]string{"base": filepath.Join("testdata", "qwen2-tiny", "base"), "ft1": filepath.Join("testdata", "qwen2-tiny", "ft1")}, `{"slots":[{"take":["base",0]},{"take":["ft1",2]}]}`},
	{"mistral", map[string]string{"base": filepath.Join("testdata", "mistral-tiny", "base"), "ft1": filepath.Join("testdata", "mistral-tiny", "ft1")}, `{"slots":[{"take":["ft1",0]},{"take":["base",2]}]}`},
	{"qwen3", tinyDirs("qwen3"), `{"slots":[{"take":["base",0]},{"take":["ft1",1]},{"merge":{"method":"task_arithmetic","layer":2,"models":["ft1"],"lambda":0.5}}]}`},
	// Gemma 2's kinds S G S G: slots S G S (base 2, ft1 3, base 0) are
	// sliding_window_pattern 2.
	{"gemma2", tinyDirs("gemma2"), `{"slots":[{"take":["base",2]},{"take":["ft1",3]},{"take":["base",0],"mlp":["ft1",1]}]}`},
	// Gemma 3's kinds S S G S S G (sliding_window_pattern 3): slots S S G S.
	{"gemma3", tinyDirs("gemma3"), `{"slots":[{"take":["base",0]},{"merge":{"method":"task_arithmetic","layer":4,"models":["ft1"],"lambda":0.5}},{"take":["base",5]},{"take":["ft1",1],"attn":"none"}]}`},
	// Not "phi3": llama.cpp would look up Phi-3's own tokens by that name
	// (phi3Name), and this tokenizer is Llama 2's cut.
	// Every slot global (layers 1 and 3 of Gemma 2, 2 and 5 of Gemma 3).
	{"gemma2-global", tinyDirs("gemma2"), `{"slots":[{"take":["ft1",1]},{"take":["base",3]}]}`},
	{"gemma3-global", tinyDirs("gemma3"), `{"slots":[{"take":["ft1",2]},{"take":["base",5]}]}`},
	{"gemma3-linear", tinyDirs("gemma3"), `{"slots":[{"take":["base",0]},{"take":["ft1",1]},{"take":["base",2]}]}`},
	{"phi-window", tinyDirs("phi3"), `{"slots":[{"take":["base",0]},{"take":["ft1",3]}]}`},
	{"phi-tiny", tinyDirs("phi3"), `{"slots":[{"take":["base",0]},{"take":["ft1",2]},{"take":["base",3],"mlp":["ft1",1]}]}`},
}

// caseConfig changes config.json fields of a case's models (in copies):
// the same weights under another setting.
var caseConfig = map[string]map[string]any{
	// Gemma 3 4B and up: linear RoPE scaling (factor 8) on the global
	// layers only.
	"gemma3-linear": {"rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}},
	// A window shorter than the context: llama.cpp's phi3 graph has none,
	// so context_length becomes the window (the test's sequences fit it).
	"phi-window": {"sliding_window": 48},
}

// patchedCopy copies model directory dir into a temporary one with
// config.json's fields set.
func patchedCopy(t *testing.T, dir string, set map[string]any) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "config.json" {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			for k, v := range set {
				m[k] = v
			}
			raw, _ = json.Marshal(m)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tinyDirs is a synthetic family of testdata/NAME-tiny: base and ft1.
func tinyDirs(name string) map[string]string {
	d := filepath.Join("testdata", name+"-tiny")
	return map[string]string{"base": filepath.Join(d, "base"), "ft1": filepath.Join(d, "ft1")}
}

var allTypes = []gguf.Type{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0}

// open builds the case's builder and plan.
func (c exportCase) open(t *testing.T) (*stitch.Builder, *plan.Plan) {
	t.Helper()
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math", "ft1"} {
		if d, ok := c.members[a]; ok {
			if set := caseConfig[c.name]; set != nil {
				d = patchedCopy(t, d, set)
			}
			ms = append(ms, model.Member{Alias: a, Dir: d})
		}
	}
	f, err := model.OpenFamily(ms)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b := stitch.New(f, -1)
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Calibrate = session.CalibrationReader(tok, 0)
	p, err := plan.Parse([]byte(c.plan))
	if err != nil {
		t.Fatal(err)
	}
	return b, p
}

// export writes the case at type typ into dir.
func (c exportCase) export(t *testing.T, dir string, typ gguf.Type) (string, *stitch.Builder, *plan.Plan) {
	t.Helper()
	b, p := c.open(t)
	out := filepath.Join(dir, c.name+"-"+typ.String()+".gguf")
	if _, err := Export(b, p, Options{Out: out, Type: typ}); err != nil {
		t.Fatalf("%s %s: %v", c.name, typ, err)
	}
	return out, b, p
}

// readBack reads a GGUF file with gguf-parser-go (an independent reader)
// and decodes every tensor to float32, q/k rows put back in Hugging
// Face's order: name → values, and the stored types.
func readBack(t *testing.T, path string) (*parser.GGUFFile, map[string][]float32, map[string]gguf.Type) {
	t.Helper()
	gf, err := parser.ParseGGUFFile(path)
	if err != nil {
		t.Fatalf("gguf-parser-go: %s: %v", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	arch := meta(t, gf, "general.architecture").ValueString()
	heads := int(meta(t, gf, arch+".attention.head_count").ValueUint32())
	kv := int(meta(t, gf, arch+".attention.head_count_kv").ValueUint32())
	vals, types := map[string][]float32{}, map[string]gguf.Type{}
	for _, ti := range gf.TensorInfos {
		n := 1
		for _, d := range ti.Dimensions {
			n *= int(d)
		}
		typ := gguf.Type(ti.Type)
		size := gguf.TensorInfo{Shape: []int{n}, Type: typ}.Bytes()
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, gf.TensorDataStartOffset+int64(ti.Offset)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		v, err := gguf.Decode(typ, buf, n)
		if err != nil {
			t.Fatalf("%s: %v", ti.Name, err)
		}
		if arch == "llama" {
			rows := int(ti.Dimensions[len(ti.Dimensions)-1])
			cols := n / rows
			switch {
			case strings.HasSuffix(ti.Name, "attn_q.weight"), strings.HasSuffix(ti.Name, "attn_q.bias"):
				v = unpermute(v, rows, cols, heads)
			case strings.HasSuffix(ti.Name, "attn_k.weight"), strings.HasSuffix(ti.Name, "attn_k.bias"):
				v = unpermute(v, rows, cols, kv)
			}
		}
		vals[ti.Name], types[ti.Name] = v, typ
	}
	return gf, vals, types
}

// unpermute inverts permuteRows, written independently: row h·hd + s·hd/2
// + j comes back from row h·hd + 2j + s.
func unpermute(v []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(v))
	hd := rows / heads
	for r := 0; r < rows; r++ {
		h, i := r/hd, r%hd
		s, j := i/(hd/2), i%(hd/2)
		src := h*hd + 2*j + s
		copy(out[r*cols:(r+1)*cols], v[src*cols:(src+1)*cols])
	}
	return out
}

func meta(t *testing.T, gf *parser.GGUFFile, key string) parser.GGUFMetadataKV {
	t.Helper()
	kv, ok := gf.Header.MetadataKV.Get(key)
	if !ok {
		t.Fatalf("key %s missing", key)
	}
	return kv
}

// netFromGGUF runs the file's decoded weights in gptailor's engine, read
// as llama.cpp reads them: Gemma's norms hold 1 + w (the engine adds the
// 1), queries are scaled by 1/√head_dim (1/√(hidden/heads) at the 27B
// depths), and layer i is sliding when i mod n < n-1 for the file's
// sliding_window_pattern n.
func netFromGGUF(t *testing.T, cfg model.Config, vals map[string][]float32, blocks int, gf *parser.GGUFFile) *engine.Net {
	t.Helper()
	cfg.NumHiddenLayers = blocks
	arch := Architectures[cfg.ModelType]
	var kinds []model.LayerKind
	if arch.NormShift {
		for name, v := range vals {
			if strings.HasSuffix(name, "norm.weight") {
				w := make([]float32, len(v))
				for k := range v {
					w[k] = v[k] - 1
				}
				vals[name] = w
			}
		}
		dl := float64(cfg.HeadDim)
		if blocks == map[string]int{"gemma2": 46, "gemma3": 62}[arch.Name] {
			dl = float64(cfg.HiddenSize / cfg.NumAttentionHeads)
		}
		cfg.QueryPreAttnScalar = &dl
		n := 1 // no sliding_window: every layer global
		if _, ok := gf.Header.MetadataKV.Get(arch.Name + ".attention.sliding_window"); ok {
			n = int(meta(t, gf, arch.Name+".attention.sliding_window_pattern").ValueUint32())
			w := int(meta(t, gf, arch.Name+".attention.sliding_window").ValueUint32())
			cfg.SlidingWindow = &w
		}
		for i := 0; i < blocks; i++ {
			k := model.Global
			if n == 0 || i%n < n-1 {
				k = model.Sliding
			}
			kinds = append(kinds, k)
		}
	}
	layers := make([]*engine.Layer, blocks)
	for i := range layers {
		ts := engine.Tensors{}
		for _, role := range cfg.Roles() {
			if v, ok := vals[strings.ReplaceAll(arch.Tensors[role], "{i}", strconv.Itoa(i))]; ok {
				ts[role] = v
			}
		}
		l, err := engine.NewLayer(&cfg, ts)
		if err != nil {
			t.Fatal(err)
		}
		layers[i] = l
	}
	ht := &engine.HeadTensors{Embed: vals["token_embd.weight"], FinalNorm: vals["output_norm.weight"], LMHead: vals["output.weight"]}
	h, err := engine.NewHead(&cfg, ht)
	if err != nil {
		t.Fatal(err)
	}
	net := engine.NewNet(&cfg, h, layers)
	net.Kinds = kinds
	return net
}
