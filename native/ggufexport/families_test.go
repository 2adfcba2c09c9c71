package ggufexport

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
)

// tinyConfig is testdata/NAME-tiny's base config with fields changed.
func tinyConfig(t *testing.T, name string, set map[string]any) *model.Config {
	t.Helper()
	cfg, err := parseTiny(name, set)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func parseTiny(name string, set map[string]any) (*model.Config, error) {
	path := filepath.Join("testdata", name+"-tiny", "base", "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range set {
		m[k] = v
	}
	raw, _ = json.Marshal(m)
	return model.ParseConfig(raw, path)
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func kindsOf(s string) []model.LayerKind {
	var out []model.LayerKind
	for _, c := range s {
		k := model.Global
		if c == 'S' {
			k = model.Sliding
		}
		out = append(out, k)
	}
	return out
}

// What llama.cpp's graphs cannot compute is refused, naming the field
// and why.
func TestFamilyRefusals(t *testing.T) {
	for _, c := range []struct {
		arch, model string
		set         map[string]any
		kinds       string
		want        string
	}{
		{"gemma2", "gemma2", nil, "SGG", "kinds SGG"},
		{"gemma2", "gemma2", nil, "GS", "kinds GS"},
		{"gemma3", "gemma3", nil, "GSS", "kinds GSS"},
		{"gemma2", "gemma2", map[string]any{"attn_logit_softcapping": nil}, "SG", "always soft-caps"},
		{"gemma2", "gemma2", map[string]any{"final_logit_softcapping": nil}, "SG", "always soft-caps"},
		{"gemma2", "gemma2", map[string]any{"tie_word_embeddings": false}, "SG", "tie_word_embeddings"},
		{"gemma3", "gemma3", map[string]any{"attn_logit_softcapping": 50.0}, "SSG", "attn_logit_softcapping = 50"},
		{"qwen3", "qwen3", map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, "GG", "rope_freqs"},
		{"gemma3", "gemma3", map[string]any{"rope_scaling": map[string]any{"rope_type": "longrope", "factor": 2.0, "short_factor": ones(16), "long_factor": ones(16)}}, "SSG", "longrope"},
	} {
		cfg, err := parseTiny(c.model, c.set)
		if err != nil {
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %v: config refused as %v", c.arch, c.set, err)
			}
			continue
		}
		_, err = familyOf(Architectures[cfg.ModelType], cfg, kindsOf(c.kinds))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v kinds %s: %v, want an error naming %q", c.arch, c.set, c.kinds, err, c.want)
		}
	}
}

// sliding_window_pattern: llama.cpp's set_swa_pattern(n) makes layer i
// sliding when i mod n < n-1 (0: all); the base's pattern is preferred.
func TestSlidingWindowPattern(t *testing.T) {
	g3 := tinyConfig(t, "gemma3", nil) // S S G S S G
	g2 := tinyConfig(t, "gemma2", nil) // S G S G
	for _, c := range []struct {
		cfg   *model.Config
		kinds string
		want  int
	}{
		{g3, "SSGSSG", 3}, {g3, "SSG", 3}, {g3, "SS", 3}, {g3, "SG", 2}, {g3, "SSSG", 4}, {g3, "SSSSSG", 6},
		{g2, "SGSG", 2}, {g2, "S", 2}, {g2, "SSG", 3}, {g2, "SSSSSSS", 8},
	} {
		got, err := swaPeriod(c.cfg, kindsOf(c.kinds))
		if err != nil || got != c.want {
			t.Errorf("%s kinds %s: %d, %v; want %d", c.cfg.ModelType, c.kinds, got, err, c.want)
		}
	}
}

// The query scale: Hugging Face's 1/√query_pre_attn_scalar against
// llama.cpp's 1/√head_dim, or 1/√(hidden/heads) at the 27B depths (46
// Gemma 2 blocks, 62 Gemma 3), folded into attn_q or attn_q_norm.
func TestQueryScaleFold(t *testing.T) {
	for _, c := range []struct {
		model  string
		qpas   float64
		blocks int
		want   float64 // √(d/qpas)
		role   string
	}{
		{"gemma2", 256, 4, math.Sqrt(32.0 / 256), model.Q},
		{"gemma2", 16, 46, 1, ""}, // hidden/heads = 16
		{"gemma2", 32, 46, math.Sqrt(16.0 / 32), model.Q},
		{"gemma2", 32, 4, 1, ""},
		{"gemma3", 256, 62, math.Sqrt(16.0 / 256), model.QNorm},
		{"gemma3", 256, 6, math.Sqrt(32.0 / 256), model.QNorm},
	} {
		cfg := tinyConfig(t, c.model, map[string]any{"query_pre_attn_scalar": c.qpas, "num_hidden_layers": c.blocks, "layer_types": nil})
		kinds := make([]model.LayerKind, c.blocks)
		for i := range kinds {
			kinds[i] = model.Sliding
		}
		f, err := familyOf(Architectures[cfg.ModelType], cfg, kinds)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(f.qScale)-c.want) > 1e-7 {
			t.Errorf("%s qpas %g, %d blocks: scale %g, want %g", c.model, c.qpas, c.blocks, f.qScale, c.want)
		}
		if c.role != "" && f.adjustFor(Architectures[cfg.ModelType], c.role).scale != f.qScale {
			t.Errorf("%s: %s is not rescaled", c.model, c.role)
		}
	}
}

// A name llama.cpp reads as Phi-3 needs Phi-3's tokens.
func TestPhi3NameRefused(t *testing.T) {
	c := exportCase{"phi", tinyDirs("phi3"), `{"slots":[{"take":["base",0]}]}`}
	b, p := c.open(t)
	_, err := Export(b, p, Options{Out: filepath.Join(t.TempDir(), "x.gguf"), Type: gguf.F32, Name: "my-Phi3-cut"})
	if err == nil || !strings.Contains(err.Error(), "<|endoftext|>") {
		t.Errorf("general.name with phi3: %v", err)
	}
}
