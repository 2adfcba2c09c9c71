package model

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func gemma3Config() map[string]any {
	return map[string]any{"architectures": []any{"Gemma3ForCausalLM"}, "model_type": "gemma3_text", "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16,
		"vocab_size": 50, "max_position_embeddings": 64, "sliding_window": 8, "sliding_window_pattern": 3,
		"rope_theta": 1e6, "rope_local_base_freq": 1e4, "query_pre_attn_scalar": 16}
}

func parse(t *testing.T, c map[string]any) (*Config, error) {
	t.Helper()
	raw, _ := json.Marshal(c)
	return ParseConfig(raw, "config.json")
}

// Every bad config is refused naming the field at fault.
func TestNewArchitectureConfigErrors(t *testing.T) {
	cases := []struct {
		edit func(map[string]any)
		want string
	}{
		{func(c map[string]any) { c["architectures"] = []any{"MambaForCausalLM"} }, `field architectures: "MambaForCausalLM" is not supported`},
		{func(c map[string]any) { c["architectures"] = []any{"Gemma2ForCausalLM"} }, `field architectures: "Gemma2ForCausalLM" does not go with model_type "gemma3_text"`},
		{func(c map[string]any) { c["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0} }, `field rope_scaling.rope_type "yarn" is not supported`},
		{func(c map[string]any) { c["attn_logit_softcapping"] = 0.0 }, "field attn_logit_softcapping = 0 must be positive"},
		{func(c map[string]any) { c["final_logit_softcapping"] = -30.0 }, "field final_logit_softcapping = -30 must be positive"},
		{func(c map[string]any) { c["sliding_window"] = 128 }, "field sliding_window = 128 is larger than the context, max_position_embeddings = 64"},
		{func(c map[string]any) { c["sliding_window"] = nil }, "field sliding_window is null"},
		{func(c map[string]any) { c["layer_types"] = []any{"full_attention"} }, "field layer_types has 1 entries for num_hidden_layers = 8"},
		{func(c map[string]any) {
			c["layer_types"] = []any{"full_attention", "chunked_attention", "full_attention", "full_attention", "full_attention", "full_attention", "full_attention", "full_attention"}
		}, `field layer_types[1] = "chunked_attention" is not supported`},
		{func(c map[string]any) { c["hidden_activation"] = "gelu" }, `field hidden_activation "gelu" is not supported`},
		{func(c map[string]any) { c["query_pre_attn_scalar"] = 0 }, "field query_pre_attn_scalar = 0 must be positive"},
		{func(c map[string]any) { c["partial_rotary_factor"] = 0.5 }, "field partial_rotary_factor = 0.5 is not supported"},
		{func(c map[string]any) { c["rope_parameters"] = map[string]any{"rope_type": "default"} }, "field rope_parameters is not supported"},
		{func(c map[string]any) {
			c["model_type"] = "qwen3"
			c["architectures"] = nil
			c["query_pre_attn_scalar"] = 256
		}, "field query_pre_attn_scalar is not used by model_type qwen3"},
		{func(c map[string]any) {
			c["model_type"], c["architectures"], c["query_pre_attn_scalar"], c["rope_local_base_freq"] = "phi3", nil, nil, nil
			c["rope_scaling"] = map[string]any{"type": "longrope", "short_factor": []any{1.0}, "long_factor": []any{1.0}}
		}, "field rope_scaling.long_factor has 1 values, head_dim/2 = 8 needed"},
		{func(c map[string]any) {
			c["model_type"], c["architectures"], c["query_pre_attn_scalar"], c["rope_local_base_freq"] = "phi3", nil, nil, nil
			c["attention_bias"] = true
		}, "field attention_bias: model_type phi3 has no q/k/v biases"},
	}
	for _, tc := range cases {
		c := gemma3Config()
		tc.edit(c)
		_, err := parse(t, c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	if _, err := parse(t, gemma3Config()); err != nil {
		t.Fatal(err)
	}
}

// Layer kinds, windows and RoPE per kind as Hugging Face assigns them.
func TestLayerKindsAndRope(t *testing.T) {
	c, err := parse(t, gemma3Config())
	if err != nil {
		t.Fatal(err)
	}
	want := "sliding_attention sliding_attention full_attention sliding_attention sliding_attention full_attention sliding_attention sliding_attention"
	if got := strings.Join(c.LayerTypesFor(8), " "); got != want {
		t.Errorf("gemma3 pattern 3: %s", got)
	}
	if c.WindowFor(Sliding) != 8 || c.WindowFor(Global) != 0 {
		t.Errorf("windows %d %d", c.WindowFor(Sliding), c.WindowFor(Global))
	}
	// inv_freq[1] = base^(-2/16)
	if g, _ := c.Rope(Global, false); g[1] != 1/pow(1e6, 0.125) {
		t.Errorf("global inv_freq[1] %g", g[1])
	}
	if l, _ := c.Rope(Sliding, false); l[1] != 1/pow(1e4, 0.125) {
		t.Errorf("local inv_freq[1] %g", l[1])
	}
	g2 := gemma3Config()
	g2["model_type"], g2["architectures"] = "gemma2", []any{"Gemma2ForCausalLM"}
	delete(g2, "rope_local_base_freq")
	c2, err := parse(t, g2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c2.LayerTypesFor(3), " "); got != "sliding_attention full_attention sliding_attention" {
		t.Errorf("gemma2: %s", got)
	}
	if c2.AttnSoftCap() != 50 || c2.FinalSoftCap() != 30 || c2.Act() != "gelu_tanh" {
		t.Errorf("gemma2 defaults: caps %g %g, act %s", c2.AttnSoftCap(), c2.FinalSoftCap(), c2.Act())
	}
}

func pow(a, b float64) float64 { return math.Pow(a, b) }

// Whatever config is accepted, the per-architecture accessors answer
// without panicking: kinds, windows, RoPE of both kinds and lengths.
func FuzzParseArchConfig(f *testing.F) {
	g3, _ := json.Marshal(gemma3Config())
	f.Add(g3)
	f.Add([]byte(`{"model_type":"phi3","hidden_size":16,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":3,"max_position_embeddings":64,"original_max_position_embeddings":16,"rope_scaling":{"type":"su","short_factor":[1,1,1,1],"long_factor":[2,2,2,2]}}`))
	f.Add([]byte(`{"model_type":"gemma2","hidden_size":8,"intermediate_size":4,"num_hidden_layers":3,"num_attention_heads":2,"vocab_size":3,"max_position_embeddings":64,"sliding_window":8,"layer_types":["full_attention","sliding_attention","full_attention"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "fuzz")
		if err != nil {
			return
		}
		for i := 0; i < min(c.NumHiddenLayers, 64); i++ {
			k := c.KindAt(i)
			if w := c.WindowFor(k); w < 0 {
				t.Fatalf("negative window %d", w)
			}
			for _, long := range []bool{false, true} {
				inv, s := c.Rope(k, long)
				if len(inv) != c.HeadDim/2 || !(s > 0) {
					t.Fatalf("rope of %d values, scale %g", len(inv), s)
				}
			}
		}
		if a := c.Act(); a != "silu" && a != "gelu_tanh" || len(c.Features()) == 0 {
			t.Fatalf("activation %q, features %v", a, c.Features())
		}
	})
}
