// Package model opens Hugging Face decoder-only checkpoints (Llama, Mistral,
// Qwen2, Qwen3, Gemma 2, Gemma 3 text, Phi-3) and families of them:
// config.json, the architecture's tensor names and the ways its layer
// differs from Llama's (a table in architectures.json, not code; see Arch),
// lazily read safetensors, and the consistency checks a family of
// fine-tunes of one base must pass.
package model

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RopeScaling is config.json's rope_scaling: rope_type "default" (or null),
// "linear", "llama3" and "longrope" (Phi-3's, also spelled "su"); any other
// type is refused naming the field (see Config.Rope).
type RopeScaling struct {
	RopeType                      string    `json:"rope_type"`
	Type                          string    `json:"type"` // older spelling of rope_type
	Factor                        float64   `json:"factor"`
	LowFreqFactor                 float64   `json:"low_freq_factor"`
	HighFreqFactor                float64   `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int       `json:"original_max_position_embeddings"`
	LongFactor                    []float64 `json:"long_factor"`
	ShortFactor                   []float64 `json:"short_factor"`
	AttentionFactor               *float64  `json:"attention_factor"`
}

// Config is the part of config.json the engine needs.
type Config struct {
	Architectures         []string     `json:"architectures"`
	ModelType             string       `json:"model_type"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HeadDim               int          `json:"head_dim"`
	VocabSize             int          `json:"vocab_size"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	AttentionBias         *bool        `json:"attention_bias"`
	HiddenAct             string       `json:"hidden_act"`
	SlidingWindow         *int         `json:"sliding_window"`
	UseSlidingWindow      *bool        `json:"use_sliding_window"`
	TorchDType            string       `json:"torch_dtype"`
	BOSTokenID            any          `json:"bos_token_id"`
	EOSTokenID            any          `json:"eos_token_id"`

	// Fields of the newer architectures (see arch.go).
	HiddenActivation              string          `json:"hidden_activation"`
	QueryPreAttnScalar            *float64        `json:"query_pre_attn_scalar"`
	AttnLogitSoftcapping          *float64        `json:"attn_logit_softcapping"`
	FinalLogitSoftcapping         *float64        `json:"final_logit_softcapping"`
	RopeLocalBaseFreq             float64         `json:"rope_local_base_freq"`
	SlidingWindowPattern          int             `json:"sliding_window_pattern"`
	LayerTypes                    []string        `json:"layer_types"`
	OriginalMaxPositionEmbeddings int             `json:"original_max_position_embeddings"`
	PartialRotaryFactor           *float64        `json:"partial_rotary_factor"`
	RopeParameters                json.RawMessage `json:"rope_parameters"`

	// Raw keeps every field of the file, for writing an updated config.
	Raw map[string]any `json:"-"`
}

// maxDim bounds every size field, so a corrupt config fails here instead of
// asking for terabytes later.
const maxDim = 1 << 24

// QDim is the width of the query projection (heads × head_dim).
func (c *Config) QDim() int { return c.NumAttentionHeads * c.HeadDim }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim }

// Window is the attention window in tokens, or 0 for full causal attention.
func (c *Config) Window() int {
	if c.SlidingWindow == nil || *c.SlidingWindow <= 0 {
		return 0
	}
	if c.UseSlidingWindow != nil && !*c.UseSlidingWindow {
		return 0
	}
	return *c.SlidingWindow
}

// ParseConfig decodes and checks config.json. path is only used in errors.
func ParseConfig(raw []byte, path string) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("[%s]: %w", path, err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&c.Raw); err != nil {
		return nil, fmt.Errorf("[%s]: %w", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("[%s]: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	if err := c.checkArchitectures(); err != nil {
		return err
	}
	_, ok := architectures[c.ModelType]
	if !ok {
		return fmt.Errorf("unsupported architecture: model_type %q (supported: %s)", c.ModelType, strings.Join(SupportedTypes(), ", "))
	}
	pos := []struct {
		name string
		v    int
	}{
		{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"vocab_size", c.VocabSize},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("field %s must be positive, is %d", p.name, p.v)
		}
		if p.v > maxDim {
			return fmt.Errorf("field %s = %d is beyond any model we can run (limit %d)", p.name, p.v, maxDim)
		}
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.NumKeyValueHeads < 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("field num_key_value_heads = %d must divide num_attention_heads = %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if c.HeadDim == 0 {
		if c.HiddenSize%c.NumAttentionHeads != 0 {
			return fmt.Errorf("field hidden_size = %d is not a multiple of num_attention_heads = %d and head_dim is not given", c.HiddenSize, c.NumAttentionHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if c.HeadDim < 0 || c.HeadDim%2 != 0 || c.HeadDim > maxDim {
		return fmt.Errorf("field head_dim = %d must be positive and even for rotary embeddings", c.HeadDim)
	}
	if c.MaxPositionEmbeddings <= 0 || c.MaxPositionEmbeddings > maxDim {
		return fmt.Errorf("field max_position_embeddings = %d must be between 1 and %d", c.MaxPositionEmbeddings, maxDim)
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	// Real checkpoints use 1e-6 or 1e-5; an epsilon near the mean square of
	// the activations would silently flatten every norm.
	if !(c.RMSNormEps > 0 && c.RMSNormEps <= 1e-2) {
		return fmt.Errorf("field rms_norm_eps = %g is not plausible: it must be in (0, 0.01] (checkpoints use 1e-6 or 1e-5)", c.RMSNormEps)
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if !(c.RopeTheta >= 1 && c.RopeTheta <= 1e12) {
		return fmt.Errorf("field rope_theta = %g is not plausible: it must be in [1, 1e12]", c.RopeTheta)
	}
	if c.SlidingWindow != nil && *c.SlidingWindow < 0 {
		return fmt.Errorf("field sliding_window = %d must not be negative", *c.SlidingWindow)
	}
	if err := c.architecture(); err != nil {
		return err
	}
	return nil
}

// HasAttentionBias says whether q/k/v projections carry biases.
func (c *Config) HasAttentionBias() bool {
	if c.AttentionBias != nil {
		return *c.AttentionBias
	}
	return architectures[c.ModelType].AttentionBias
}

// InvFreq returns the rotary inverse frequencies (head_dim/2 of them) of
// the config's global layers on short inputs, scaled as Hugging Face
// scales them (Rope gives every kind and length).
func (c *Config) InvFreq() []float64 {
	f, _ := c.Rope(Global, false)
	return f
}

// readConfig reads dir/config.json.
func readConfig(dir string) (*Config, error) {
	p := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseConfig(raw, p)
}
