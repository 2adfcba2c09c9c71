package engine

import (
	"encoding/json"
	"testing"

	"github.com/gptailor/gptailor/native/model"
)

// benchShapes are real models' configs (random BF16 weights): the
// Llama-3.2-1B yardstick and the newer architectures' benchmark shapes.
var benchShapes = []struct {
	name string
	cfg  map[string]any
}{
	{"llama-3.2-1b", map[string]any{"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
		"num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 4096, "tie_word_embeddings": true}},
	{"qwen3-0.6b", map[string]any{"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
		"num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "max_position_embeddings": 4096,
		"rope_theta": 1e6, "tie_word_embeddings": true}},
	// the same shape without q/k norms: the shape's cost apart from the architecture's
	{"qwen3-0.6b-shape-as-llama", map[string]any{"model_type": "llama", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
		"num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "max_position_embeddings": 4096,
		"rope_theta": 1e6, "tie_word_embeddings": true}},
	{"gemma-3-1b", map[string]any{"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
		"num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144, "max_position_embeddings": 32768,
		"sliding_window": 512, "sliding_window_pattern": 6, "query_pre_attn_scalar": 256, "rope_theta": 1e6, "tie_word_embeddings": true}},
}

// One 512-token window through each shape with the active kernel: tokens/s
// and tokens/s × parameters (G param·tokens/s), the issue's "tokens/s per
// parameter" yardstick against Llama-3.2-1B's.
func BenchmarkForwardShapes(b *testing.B) {
	for _, s := range benchShapes {
		raw, _ := json.Marshal(s.cfg)
		cfg, err := model.ParseConfig(raw, s.name)
		if err != nil {
			b.Fatal(err)
		}
		net := RandomNetBF16(cfg, 3)
		params := float64(cfg.VocabSize * cfg.HiddenSize)
		for _, r := range cfg.Roles() {
			n := 1
			for _, d := range cfg.ExpectedShape(r) {
				n *= d
			}
			params += float64(n * cfg.NumHiddenLayers)
		}
		b.Run(s.name, func(b *testing.B) {
			windows := benchWindows(cfg.VocabSize, 1, 512)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := net.ScoreWindows(windows, nil); err != nil {
					b.Fatal(err)
				}
			}
			tps := 511 * float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(tps, "tokens/s")
			b.ReportMetric(tps*params/1e9, "Gparam·tokens/s")
		})
		net = nil
	}
}
