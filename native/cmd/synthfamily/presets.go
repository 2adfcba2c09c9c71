package main

// presets give a config.json per architecture and shape: the real
// models' sizes and settings (weights are random). The -tiny ones are
// test shapes of the newer architectures with a 512-token vocabulary (the
// stories260K tokenizer's).
var presets = map[string]func() map[string]any{
	"smollm-135m":  func() map[string]any { return llama("llama", "LlamaForCausalLM", 576, 1536, 30, 9, 3, 49152) },
	"qwen2.5-0.5b": func() map[string]any { return llama("qwen2", "Qwen2ForCausalLM", 896, 4864, 24, 14, 2, 151936) },
	"llama-3.2-1b": func() map[string]any { return llama("llama", "LlamaForCausalLM", 2048, 8192, 16, 32, 8, 128256) },
	"qwen3-0.6b":   func() map[string]any { return qwen3(1024, 3072, 28, 16, 8, 128, 151936) },
	"gemma-2-2b":   func() map[string]any { return gemma2(2304, 9216, 26, 8, 4, 256, 256000, 4096) },
	"gemma-3-1b":   func() map[string]any { return gemma3(1152, 6912, 26, 4, 1, 256, 262144, 512) },
	"phi-3.5-mini": func() map[string]any { return phi3(3072, 8192, 32, 32, 32, 32064) },
	"qwen3-tiny":   func() map[string]any { return qwen3(64, 128, 6, 4, 2, 32, 512) },
	"gemma2-tiny":  func() map[string]any { return gemma2(64, 128, 6, 4, 2, 32, 512, 32) },
	"gemma3-tiny":  func() map[string]any { return gemma3(64, 128, 8, 4, 1, 32, 512, 32) },
	"phi3-tiny":    func() map[string]any { return phi3(64, 128, 6, 4, 4, 512) },
}

func common(mt, arch string, hidden, inter, layers, heads, kv, vocab int) map[string]any {
	return map[string]any{"architectures": []string{arch}, "model_type": mt, "hidden_size": hidden,
		"intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
		"num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": true}
}

func llama(mt, arch string, hidden, inter, layers, heads, kv, vocab int) map[string]any {
	c := common(mt, arch, hidden, inter, layers, heads, kv, vocab)
	c["max_position_embeddings"], c["rms_norm_eps"], c["rope_theta"], c["hidden_act"] = 2048, 1e-5, 10000.0, "silu"
	return c
}

// qwen3 is Qwen3-0.6B's config: head_dim 128 apart from hidden/heads.
func qwen3(hidden, inter, layers, heads, kv, headDim, vocab int) map[string]any {
	c := common("qwen3", "Qwen3ForCausalLM", hidden, inter, layers, heads, kv, vocab)
	c["head_dim"], c["max_position_embeddings"], c["rms_norm_eps"], c["rope_theta"] = headDim, 40960, 1e-6, 1e6
	c["hidden_act"], c["attention_bias"], c["use_sliding_window"], c["sliding_window"] = "silu", false, false, nil
	return c
}

// gemma2 is Gemma-2-2B's config.
func gemma2(hidden, inter, layers, heads, kv, headDim, vocab, window int) map[string]any {
	c := common("gemma2", "Gemma2ForCausalLM", hidden, inter, layers, heads, kv, vocab)
	c["head_dim"], c["max_position_embeddings"], c["rms_norm_eps"], c["rope_theta"] = headDim, 8192, 1e-6, 10000.0
	c["hidden_activation"], c["hidden_act"], c["query_pre_attn_scalar"] = "gelu_pytorch_tanh", "gelu_pytorch_tanh", 256
	c["attn_logit_softcapping"], c["final_logit_softcapping"], c["sliding_window"] = 50.0, 30.0, window
	return c
}

// gemma3 is Gemma-3-1B's text config: 5 sliding layers to 1 global.
func gemma3(hidden, inter, layers, heads, kv, headDim, vocab, window int) map[string]any {
	c := common("gemma3_text", "Gemma3ForCausalLM", hidden, inter, layers, heads, kv, vocab)
	c["head_dim"], c["max_position_embeddings"], c["rms_norm_eps"], c["rope_theta"] = headDim, 32768, 1e-6, 1e6
	c["rope_local_base_freq"], c["sliding_window"], c["sliding_window_pattern"] = 10000.0, window, 6
	c["hidden_activation"], c["query_pre_attn_scalar"], c["rope_scaling"] = "gelu_pytorch_tanh", 256, nil
	c["attn_logit_softcapping"], c["final_logit_softcapping"] = nil, nil
	return c
}

// phi3 is Phi-3.5-mini's config: fused projections, longrope from a
// 4,096-token pre-training context (factors made up: the real ones are
// per-model data).
func phi3(hidden, inter, layers, heads, kv, vocab int) map[string]any {
	c := common("phi3", "Phi3ForCausalLM", hidden, inter, layers, heads, kv, vocab)
	c["tie_word_embeddings"], c["max_position_embeddings"], c["original_max_position_embeddings"] = false, 131072, 4096
	c["rms_norm_eps"], c["rope_theta"], c["hidden_act"], c["sliding_window"] = 1e-5, 10000.0, "silu", 262144
	c["rope_scaling"] = phi3Rope(hidden, heads)
	return c
}

// phi3Rope is longrope with head_dim/2 made-up factors per list (main
// calls it again when -hidden or -heads change head_dim).
func phi3Rope(hidden, heads int) map[string]any {
	half := hidden / heads / 2
	short, long := make([]float64, half), make([]float64, half)
	for i := range short {
		short[i] = 1 + 0.05*float64(i)/float64(half)
		long[i] = 1 + 40*float64(i*i)/float64(half*half)
	}
	return map[string]any{"type": "longrope", "short_factor": short, "long_factor": long}
}
