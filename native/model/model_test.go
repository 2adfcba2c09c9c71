package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/safetensors"
)

var storiesBase = filepath.Join("..", "..", "testdata", "stories260K-base")

// copyModel copies the stories base into a temp dir, letting edit change
// the config text and the tensor list.
func copyModel(t *testing.T, editConfig func(string) string, editTensors func([]safetensors.Tensor) []safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(storiesBase, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := string(cfg)
	if editConfig != nil {
		c = editConfig(c)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(c), 0o644)
	ck, err := safetensors.OpenDir(storiesBase)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var ts []safetensors.Tensor
	for _, n := range ck.Names() {
		info, raw, err := ck.ReadRaw(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
	}
	if editTensors != nil {
		ts = editTensors(ts)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
	return dir
}

func TestOpenStories(t *testing.T) {
	m, err := Open(storiesBase)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config
	if c.HeadDim != 8 || c.NumKeyValueHeads != 4 || !c.TieWordEmbeddings || c.HasAttentionBias() || m.LMHeadName() != "model.embed_tokens.weight" {
		t.Errorf("config %+v", c)
	}
	if got := m.LayerTensorName(Down, 3); got != "model.layers.3.mlp.down_proj.weight" {
		t.Errorf("template: %s", got)
	}
	if m.LayerParams() != 45440 {
		t.Errorf("params per layer %d", m.LayerParams())
	}
}

func TestBadModels(t *testing.T) {
	drop := func(name string) func([]safetensors.Tensor) []safetensors.Tensor {
		return func(ts []safetensors.Tensor) []safetensors.Tensor {
			var out []safetensors.Tensor
			for _, x := range ts {
				if x.Name != name {
					out = append(out, x)
				}
			}
			return out
		}
	}
	cases := []struct {
		name    string
		cfg     func(string) string
		tensors func([]safetensors.Tensor) []safetensors.Tensor
		want    string
	}{
		{"malformed-config", func(s string) string { return s[:40] }, nil, "config.json]: unexpected end of JSON input"},
		{"unsupported-arch", func(s string) string { return strings.Replace(s, `"llama"`, `"gpt2"`, 1) }, nil, `unsupported architecture: model_type "gpt2"`},
		{"bad-act", func(s string) string { return strings.Replace(s, `"silu"`, `"gelu"`, 1) }, nil, `field hidden_act "gelu" is not supported`},
		{"bad-heads", func(s string) string {
			return strings.Replace(s, `"num_key_value_heads": 4`, `"num_key_value_heads": 3`, 1)
		}, nil, "field num_key_value_heads = 3 must divide num_attention_heads = 8"},
		{"bad-rope", func(s string) string {
			return strings.Replace(s, `"rope_theta": 10000.0,`, `"rope_theta": 10000.0, "rope_scaling": {"rope_type": "yarn", "factor": 2},`, 1)
		}, nil, `field rope_scaling.rope_type "yarn" is not supported`},
		{"missing-tensor", nil, drop("model.layers.3.mlp.up_proj.weight"), "missing tensor [model.layers.3.mlp.up_proj.weight]"},
		{"wrong-shape", func(s string) string {
			return strings.Replace(s, `"intermediate_size": 172`, `"intermediate_size": 100`, 1)
		}, nil,
			"tensor [model.layers.0.mlp.gate_proj.weight] has shape [172 64], config.json implies [100 64]"},
		{"eps-huge", func(s string) string { return strings.Replace(s, `"rms_norm_eps": 1e-05`, `"rms_norm_eps": 1e308`, 1) }, nil, "field rms_norm_eps = 1e+308 is not plausible"},
		{"eps-negative", func(s string) string { return strings.Replace(s, `"rms_norm_eps": 1e-05`, `"rms_norm_eps": -1e-05`, 1) }, nil, "field rms_norm_eps = -1e-05 is not plausible"},
		{"positions-zero", func(s string) string {
			return strings.Replace(s, `"max_position_embeddings": 512`, `"max_position_embeddings": 0`, 1)
		}, nil, "field max_position_embeddings = 0 must be between 1 and"},
		{"positions-negative", func(s string) string {
			return strings.Replace(s, `"max_position_embeddings": 512`, `"max_position_embeddings": -7`, 1)
		}, nil, "field max_position_embeddings = -7 must be between 1 and"},
		{"theta-huge", func(s string) string { return strings.Replace(s, `"rope_theta": 10000.0`, `"rope_theta": 1e300`, 1) }, nil, "field rope_theta = 1e+300 is not plausible"},
		{"untied-without-head", func(s string) string {
			return strings.Replace(s, `"tie_word_embeddings": true`, `"tie_word_embeddings": false`, 1)
		}, nil, "missing tensor [lm_head.weight]"},
	}
	for _, c := range cases {
		dir := copyModel(t, c.cfg, c.tensors)
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: got %v, want the directory and %q", c.name, err, c.want)
		}
	}
}

func TestFamilyChecks(t *testing.T) {
	code := filepath.Join("..", "..", "testdata", "stories260K-code")
	f, err := OpenFamily([]Member{ParseMember(storiesBase), ParseMember(code), ParseMember("m=" + filepath.Join("..", "..", "testdata", "stories260K-math"))})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "base,code,m" {
		t.Errorf("aliases %s", got)
	}
	f.Close()

	extra := copyModel(t, nil, func(ts []safetensors.Tensor) []safetensors.Tensor {
		return append(ts, safetensors.Tensor{Name: "model.extra", DType: safetensors.F32, Shape: []int{1}, Data: make([]byte, 4)})
	})
	if _, err := OpenFamily([]Member{{"base", storiesBase}, {"x", extra}}); err == nil || !strings.Contains(err.Error(), "model x ["+extra+"]: tensor [model.extra] is not in the base") {
		t.Errorf("extra tensor: %v", err)
	}
	if _, err := OpenFamily([]Member{{"base", extra}, {"y", storiesBase}}); err == nil || !strings.Contains(err.Error(), "model y ["+storiesBase+"]: missing tensor [model.extra] that the base has") {
		t.Errorf("missing tensor: %v", err)
	}
	wide := copyModel(t, func(s string) string {
		return strings.Replace(s, `"intermediate_size": 172`, `"intermediate_size": 86`, 1)
	},
		func(ts []safetensors.Tensor) []safetensors.Tensor {
			for i, x := range ts {
				if strings.Contains(x.Name, "mlp") {
					if x.Shape[0] == 172 {
						ts[i].Shape = []int{86, 64}
					} else {
						ts[i].Shape = []int{64, 86}
					}
					ts[i].Data = x.Data[:len(x.Data)/2]
				}
			}
			return ts
		})
	if _, err := OpenFamily([]Member{{"base", storiesBase}, {"w", wide}}); err == nil || !strings.Contains(err.Error(), "model w ["+wide+"]: tensor [model.layers.0.mlp.down_proj.weight] has shape [64 86], the base's is [64 172]") {
		t.Errorf("shape mismatch: %v", err)
	}
	if _, err := OpenFamily([]Member{{"base", storiesBase}, {"base2", storiesBase}, {"base2", storiesBase}}); err == nil || !strings.Contains(err.Error(), `alias "base2" is used twice`) {
		t.Errorf("duplicate alias: %v", err)
	}
}

// llama3 rope scaling by hand: head_dim 8, theta 10000, factor 8, low 1,
// high 4, original context 16 → wavelengths 2π·{1, 10, 100, 1000}.
func TestLlama3InvFreq(t *testing.T) {
	c := &Config{HeadDim: 8, RopeTheta: 10000, RopeScaling: &RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16}}
	got := c.InvFreq()
	// low wavelength 16/1, high 16/4. 2π lies between: smoothed; 62.8, 628
	// and 6283 exceed 16: divided by the factor.
	s0 := (16/(2*math.Pi) - 1) / (4 - 1)
	want := []float64{(1-s0)*1/8 + s0*1, 0.1 / 8, 0.01 / 8, 0.001 / 8}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("inv_freq[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	// Original context 400, high factor 8: high wavelength 50, low 400. 2π
	// is kept as is, 62.8 is smoothed, 628 and 6283 are divided.
	c.RopeScaling.OriginalMaxPositionEmbeddings = 400
	c.RopeScaling.HighFreqFactor = 8
	got = c.InvFreq()
	if got[0] != 1 || math.Abs(got[2]-0.01/8) > 1e-15 {
		t.Errorf("kept/divided: %v", got)
	}
	wl := 2 * math.Pi / 0.1
	s := (400/wl - 1) / (8 - 1)
	if want := (1-s)*0.1/8 + s*0.1; math.Abs(got[1]-want) > 1e-12 {
		t.Errorf("smooth band: %g, want %g", got[1], want)
	}
}

func FuzzParseConfig(f *testing.F) {
	seed, _ := os.ReadFile(filepath.Join(storiesBase, "config.json"))
	f.Add(seed)
	f.Add([]byte(`{"model_type":"qwen2","hidden_size":8,"intermediate_size":4,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":3}`))
	f.Add([]byte(`{"model_type":"llama","rope_scaling":{"rope_type":"llama3"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "fuzz")
		if err != nil {
			return
		}
		if c.HeadDim <= 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
			t.Fatalf("accepted inconsistent config %+v", c)
		}
		_ = c.InvFreq()
	})
}
