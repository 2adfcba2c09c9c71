package model

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Arch is one architecture as data (architectures.json): its tensor-name
// templates ({i} is the layer index) and every way its decoder layer
// differs from Llama's. The engine, merges, stitching and build read these
// fields; nothing else about an architecture lives in code.
type Arch struct {
	Architectures []string `json:"architectures"`  // config.json "architectures" values of this model_type
	AttentionBias bool     `json:"attention_bias"` // default when the config does not say
	Embed         string   `json:"embed"`
	FinalNorm     string   `json:"final_norm"`
	LMHead        string   `json:"lm_head"`

	// NormPlusOne: every RMSNorm (layer, q/k and final) multiplies by
	// 1 + w, in float32 (Gemma), instead of w.
	NormPlusOne bool `json:"norm_plus_one"`
	// ActivationField names the config field giving the MLP activation
	// ("hidden_act" when empty); Activation is its default ("silu" when
	// empty). silu and gelu_pytorch_tanh are supported.
	ActivationField string `json:"activation_field"`
	Activation      string `json:"activation"`
	// EmbedScale "sqrt_hidden": embeddings are multiplied by √hidden
	// rounded to the embedding table's dtype (Gemma).
	EmbedScale string `json:"embed_scale"`
	// LayerKinds says which layers attend through the sliding window: ""
	// all alike (a config sliding_window applies to every layer, as in
	// Mistral); "alternate" even layers sliding, odd global (Gemma 2);
	// "pattern" every sliding_window_pattern-th layer global, the rest
	// sliding (Gemma 3). A config's layer_types overrides both.
	LayerKinds string `json:"layer_kinds"`
	// SoftCapping: attn_logit_softcapping and final_logit_softcapping are
	// read (cap·tanh(x/cap) on attention scores and on logits).
	SoftCapping bool `json:"soft_capping"`
	// QueryPreAttnScalar: attention scores are scaled by
	// query_pre_attn_scalar^-½ instead of head_dim^-½.
	QueryPreAttnScalar bool `json:"query_pre_attn_scalar"`
	// LocalRope: sliding layers rotate with rope_local_base_freq and no
	// rope_scaling (Gemma 3); global layers with rope_theta and scaling.
	LocalRope bool `json:"local_rope"`

	// Layer maps tensor roles to names. q_norm/k_norm are per-head RMSNorms
	// of queries and keys before RoPE; post_attn_norm/post_mlp_norm norm a
	// sub-block's output before it joins the residual stream; qkv and
	// gate_up are fused projections (Phi-3): q, k, v rows (gate, up rows)
	// in one tensor, packed as stored and merged as one tensor.
	Layer map[string]string `json:"layer"`
}

// Has says whether the architecture's layer has a tensor of that role.
func (a *Arch) Has(role string) bool { return a.Layer[role] != "" }

//go:embed architectures.json
var architecturesJSON []byte

var architectures = mustArchitectures()

func mustArchitectures() map[string]Arch {
	var m map[string]Arch
	d := json.NewDecoder(bytes.NewReader(architecturesJSON))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		panic("model: architectures.json: " + err.Error()) // embedded at build time; tested
	}
	for name, a := range m {
		if err := a.valid(); err != nil {
			panic("model: architectures.json: " + name + ": " + err.Error())
		}
	}
	return m
}

// valid checks an entry of the table: a complete layer, known kinds.
func (a *Arch) valid() error {
	need := [][]string{{AttnNorm}, {O}, {MLPNorm}, {Down}}
	for _, n := range need {
		if !a.Has(n[0]) {
			return fmt.Errorf("lacks layer role %s", n[0])
		}
	}
	if a.Has(QKV) == (a.Has(Q) || a.Has(K) || a.Has(V)) || !a.Has(QKV) && !(a.Has(Q) && a.Has(K) && a.Has(V)) {
		return fmt.Errorf("needs either q, k and v or a fused qkv")
	}
	if a.Has(GateUp) == (a.Has(Gate) || a.Has(Up)) || !a.Has(GateUp) && !(a.Has(Gate) && a.Has(Up)) {
		return fmt.Errorf("needs either gate and up or a fused gate_up")
	}
	if a.Has(QNorm) != a.Has(KNorm) || a.Has(PostAttnNorm) != a.Has(PostMLPNorm) {
		return fmt.Errorf("q_norm/k_norm and post_attn_norm/post_mlp_norm come in pairs")
	}
	for role := range a.Layer {
		if !slices.Contains(LayerRoles, role) {
			return fmt.Errorf("unknown layer role %s", role)
		}
	}
	switch a.LayerKinds {
	case "", "alternate", "pattern":
	default:
		return fmt.Errorf("unknown layer_kinds %q", a.LayerKinds)
	}
	if a.EmbedScale != "" && a.EmbedScale != "sqrt_hidden" {
		return fmt.Errorf("unknown embed_scale %q", a.EmbedScale)
	}
	return nil
}

// SupportedTypes lists the model_type values we can run.
func SupportedTypes() []string {
	var out []string
	for k := range architectures {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// supportedArchitectures lists every "architectures" value of the table.
func supportedArchitectures() []string {
	var out []string
	for _, a := range architectures {
		out = append(out, a.Architectures...)
	}
	sort.Strings(out)
	return out
}

// Layer tensor roles.
const (
	AttnNorm     = "attn_norm"
	Q            = "q"
	K            = "k"
	V            = "v"
	QKV          = "qkv" // fused q, k, v rows (Phi-3)
	QNorm        = "q_norm"
	KNorm        = "k_norm"
	O            = "o"
	QBias        = "q_bias"
	KBias        = "k_bias"
	VBias        = "v_bias"
	PostAttnNorm = "post_attn_norm"
	MLPNorm      = "mlp_norm"
	Gate         = "gate"
	Up           = "up"
	GateUp       = "gate_up" // fused gate, up rows (Phi-3)
	Down         = "down"
	PostMLPNorm  = "post_mlp_norm"
)

// LayerRoles lists every role a layer template may have, in the order a
// layer's tensors are listed (biases last: they are present only when the
// config asks for them).
var LayerRoles = []string{AttnNorm, Q, K, V, QKV, QNorm, KNorm, O, PostAttnNorm, MLPNorm, Gate, Up, GateUp, Down, PostMLPNorm, QBias, KBias, VBias}

// AttnRole reports whether a layer role belongs to the attention sub-block:
// its input norm, q/k/v (fused or not) with biases and per-head norms, o,
// and the norm of its output (post_attn_norm, Gemma's
// post_attention_layernorm). The others — the MLP's input norm (Llama's
// post_attention_layernorm, Gemma's pre_feedforward_layernorm),
// gate/up/down and post_mlp_norm — are the MLP sub-block's.
func AttnRole(role string) bool {
	switch role {
	case AttnNorm, Q, K, V, QKV, QNorm, KNorm, O, QBias, KBias, VBias, PostAttnNorm:
		return true
	}
	return false
}

// NormRole reports whether a role is an RMSNorm weight.
func NormRole(role string) bool {
	switch role {
	case AttnNorm, QNorm, KNorm, PostAttnNorm, MLPNorm, PostMLPNorm:
		return true
	}
	return false
}

// Spec is the config's architecture.
func (c *Config) Spec() *Arch {
	a := architectures[c.ModelType]
	return &a
}

// LayerKind is how a layer attends: Global (every earlier token) or
// Sliding (the last sliding_window tokens).
type LayerKind int

const (
	Global LayerKind = iota
	Sliding
)

// String is the kind as Hugging Face's layer_types spell it.
func (k LayerKind) String() string {
	if k == Sliding {
		return "sliding_attention"
	}
	return "full_attention"
}

// KindAt is the kind of layer i: from layer_types when the config has
// them, else from the architecture's pattern. A layer taken into another
// slot keeps this kind (engine's Layer.Kind; RATIONALE).
func (c *Config) KindAt(i int) LayerKind {
	if i >= 0 && i < len(c.LayerTypes) {
		if c.LayerTypes[i] == "sliding_attention" {
			return Sliding
		}
		return Global
	}
	switch c.Spec().LayerKinds {
	case "alternate":
		if i%2 == 0 {
			return Sliding
		}
		return Global
	case "pattern":
		if (i+1)%c.slidingPattern() != 0 {
			return Sliding
		}
		return Global
	}
	if c.Window() > 0 {
		return Sliding
	}
	return Global
}

// LayerTypesFor lists the kinds of the first n layers as layer_types
// spells them.
func (c *Config) LayerTypesFor(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = c.KindAt(i).String()
	}
	return out
}

func (c *Config) slidingPattern() int {
	if c.SlidingWindowPattern > 0 {
		return c.SlidingWindowPattern
	}
	return 6 // Gemma3TextConfig's default
}

// WindowFor is the attention window of a layer of that kind (0: full).
func (c *Config) WindowFor(k LayerKind) int {
	if c.Spec().LayerKinds == "" {
		return c.Window()
	}
	if k == Sliding {
		return *c.SlidingWindow
	}
	return 0
}

// Act is the MLP activation: "silu" or "gelu_tanh".
func (c *Config) Act() string {
	a := c.Spec()
	v := c.HiddenAct
	if a.ActivationField == "hidden_activation" {
		v = c.HiddenActivation
	}
	if v == "" {
		v = a.Activation
	}
	if v == "gelu_pytorch_tanh" {
		return "gelu_tanh"
	}
	return "silu"
}

// AttnScale is the factor of the attention scores q·k.
func (c *Config) AttnScale() float64 {
	if c.Spec().QueryPreAttnScalar {
		return 1 / math.Sqrt(*c.QueryPreAttnScalar)
	}
	return 1 / math.Sqrt(float64(c.HeadDim))
}

// AttnSoftCap and FinalSoftCap are the soft caps of attention scores and
// of logits (0: none).
func (c *Config) AttnSoftCap() float64 { return capOf(c.AttnLogitSoftcapping) }

// FinalSoftCap is the soft cap of the logits (0: none).
func (c *Config) FinalSoftCap() float64 { return capOf(c.FinalLogitSoftcapping) }

func capOf(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// Rope returns the rotary inverse frequencies (head_dim/2) of a layer of
// that kind and the factor its cos and sin are multiplied by, as Hugging
// Face computes them; long selects longrope's long factors (for inputs of
// more than LongRopeAbove positions).
func (c *Config) Rope(k LayerKind, long bool) ([]float64, float64) {
	theta, rs := c.RopeTheta, c.RopeScaling
	if k == Sliding && c.Spec().LocalRope {
		theta, rs = c.RopeLocalBaseFreq, nil
	}
	hd := c.HeadDim
	out := make([]float64, hd/2)
	for i := range out {
		out[i] = 1 / math.Pow(theta, float64(2*i)/float64(hd))
	}
	if rs == nil {
		return out, 1
	}
	switch rs.RopeType {
	case "linear":
		for i := range out {
			out[i] /= rs.Factor
		}
	case "llama3":
		lowWavelen := float64(rs.OriginalMaxPositionEmbeddings) / rs.LowFreqFactor
		highWavelen := float64(rs.OriginalMaxPositionEmbeddings) / rs.HighFreqFactor
		for i, f := range out {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
			case wavelen > lowWavelen:
				out[i] = f / rs.Factor
			default:
				smooth := (float64(rs.OriginalMaxPositionEmbeddings)/wavelen - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
				out[i] = (1-smooth)*f/rs.Factor + smooth*f
			}
		}
	case "longrope":
		ext := rs.ShortFactor
		if long {
			ext = rs.LongFactor
		}
		for i := range out {
			out[i] /= ext[i]
		}
		orig, factor := c.longropeOriginal()
		scale := 1.0
		if rs.AttentionFactor != nil {
			scale = *rs.AttentionFactor
		} else if factor > 1 {
			scale = math.Sqrt(1 + math.Log(factor)/math.Log(float64(orig)))
		}
		return out, scale
	}
	return out, 1
}

// longropeOriginal is longrope's pre-training context and its factor: a
// top-level original_max_position_embeddings (Phi-3) makes the factor
// max_position_embeddings over it; else the context is
// max_position_embeddings and the factor rope_scaling's.
func (c *Config) longropeOriginal() (int, float64) {
	if c.OriginalMaxPositionEmbeddings > 0 {
		return c.OriginalMaxPositionEmbeddings, float64(c.MaxPositionEmbeddings) / float64(c.OriginalMaxPositionEmbeddings)
	}
	return c.MaxPositionEmbeddings, c.RopeScaling.Factor
}

// LongRopeAbove is the number of positions beyond which longrope's long
// factors rotate a whole batch (Hugging Face switches on the largest
// position of the call), or 0 without longrope.
func (c *Config) LongRopeAbove() int {
	if rs := c.RopeScaling; rs == nil || rs.RopeType != "longrope" {
		return 0
	}
	o, _ := c.longropeOriginal()
	return o
}

// present says whether config.json has the field (even as null).
func (c *Config) present(field string) bool {
	_, ok := c.Raw[field]
	return ok
}

// checkArchitectures refuses "architectures" values the table lacks and
// ones that contradict model_type.
func (c *Config) checkArchitectures() error {
	a, known := architectures[c.ModelType]
	for _, name := range c.Architectures {
		if !slices.Contains(supportedArchitectures(), name) {
			return fmt.Errorf("field architectures: %q is not supported (supported: %s)", name, strings.Join(supportedArchitectures(), ", "))
		}
		if known && !slices.Contains(a.Architectures, name) {
			return fmt.Errorf("field architectures: %q does not go with model_type %q (%s does)", name, c.ModelType, strings.Join(a.Architectures, ", "))
		}
	}
	return nil
}

// architecture checks and completes the fields the architecture reads,
// refusing options it does not support, naming the field.
func (c *Config) architecture() error {
	a := c.Spec()
	if c.RopeParameters != nil && string(c.RopeParameters) != "null" {
		return fmt.Errorf("field rope_parameters is not supported: write rope_theta and rope_scaling (the transformers 4.x layout)")
	}
	actField, act := "hidden_act", c.HiddenAct
	if a.ActivationField == "hidden_activation" {
		actField, act = "hidden_activation", c.HiddenActivation
	}
	switch act {
	case "", "silu", "gelu_pytorch_tanh":
	default:
		return fmt.Errorf("field %s %q is not supported (silu and gelu_pytorch_tanh are)", actField, act)
	}
	if c.AttentionBias != nil && *c.AttentionBias && !a.Has(QBias) {
		return fmt.Errorf("field attention_bias: model_type %s has no q/k/v biases", c.ModelType)
	}
	if err := c.checkGemma(a); err != nil {
		return err
	}
	if err := c.checkLayerTypes(a); err != nil {
		return err
	}
	if c.PartialRotaryFactor != nil && *c.PartialRotaryFactor != 1 {
		return fmt.Errorf("field partial_rotary_factor = %g is not supported (only 1: RoPE on the whole head)", *c.PartialRotaryFactor)
	}
	return c.checkRopeScaling()
}

// checkGemma checks query_pre_attn_scalar, the soft caps and the local
// RoPE base: read by the architectures that have them, refused elsewhere.
func (c *Config) checkGemma(a *Arch) error {
	if a.QueryPreAttnScalar {
		if c.QueryPreAttnScalar == nil {
			v := 256.0 // Gemma's default
			c.QueryPreAttnScalar = &v
		}
		if !(*c.QueryPreAttnScalar > 0) || math.IsInf(*c.QueryPreAttnScalar, 0) {
			return fmt.Errorf("field query_pre_attn_scalar = %g must be positive", *c.QueryPreAttnScalar)
		}
	} else if c.QueryPreAttnScalar != nil {
		return fmt.Errorf("field query_pre_attn_scalar is not used by model_type %s", c.ModelType)
	}
	for _, f := range []struct {
		name string
		p    **float64
		def  float64 // Gemma 2's default when the field is absent
	}{{"attn_logit_softcapping", &c.AttnLogitSoftcapping, 50}, {"final_logit_softcapping", &c.FinalLogitSoftcapping, 30}} {
		if !a.SoftCapping {
			if *f.p != nil {
				return fmt.Errorf("field %s is not used by model_type %s", f.name, c.ModelType)
			}
			continue
		}
		if *f.p == nil && !c.present(f.name) && c.ModelType == "gemma2" {
			v := f.def
			*f.p = &v
		}
		if p := *f.p; p != nil && (!(*p > 0) || math.IsInf(*p, 0)) {
			return fmt.Errorf("field %s = %g must be positive (or null for no soft-capping)", f.name, *p)
		}
	}
	if a.LocalRope {
		if c.RopeLocalBaseFreq == 0 {
			c.RopeLocalBaseFreq = 10000
		}
		if !(c.RopeLocalBaseFreq >= 1 && c.RopeLocalBaseFreq <= 1e12) {
			return fmt.Errorf("field rope_local_base_freq = %g is not plausible: it must be in [1, 1e12]", c.RopeLocalBaseFreq)
		}
	} else if c.RopeLocalBaseFreq != 0 {
		return fmt.Errorf("field rope_local_base_freq is not used by model_type %s", c.ModelType)
	}
	return nil
}

// checkLayerTypes checks the sliding window and layer_types against the
// architecture's layer kinds.
func (c *Config) checkLayerTypes(a *Arch) error {
	n := c.NumHiddenLayers
	if c.LayerTypes != nil && len(c.LayerTypes) != n {
		return fmt.Errorf("field layer_types has %d entries for num_hidden_layers = %d", len(c.LayerTypes), n)
	}
	sliding := 0
	for i, t := range c.LayerTypes {
		switch t {
		case "sliding_attention":
			sliding++
		case "full_attention":
		default:
			return fmt.Errorf("field layer_types[%d] = %q is not supported (full_attention and sliding_attention are)", i, t)
		}
	}
	if a.LayerKinds == "" {
		if sliding > 0 && (sliding < n || c.Window() == 0) {
			return fmt.Errorf("field layer_types: sliding_attention layers are not supported for model_type %s without a sliding_window on every layer", c.ModelType)
		}
		if c.ModelType == "qwen3" && c.UseSlidingWindow != nil && *c.UseSlidingWindow {
			return fmt.Errorf("field use_sliding_window: Qwen3's windowed layers (from max_window_layers) are not supported")
		}
		return nil
	}
	if c.SlidingWindow == nil {
		if c.present("sliding_window") {
			return fmt.Errorf("field sliding_window is null, but model_type %s has sliding layers", c.ModelType)
		}
		v := 4096 // Gemma's default
		c.SlidingWindow = &v
	}
	if *c.SlidingWindow <= 0 {
		return fmt.Errorf("field sliding_window = %d must be positive for model_type %s", *c.SlidingWindow, c.ModelType)
	}
	if *c.SlidingWindow > c.MaxPositionEmbeddings {
		return fmt.Errorf("field sliding_window = %d is larger than the context, max_position_embeddings = %d", *c.SlidingWindow, c.MaxPositionEmbeddings)
	}
	if c.SlidingWindowPattern < 0 {
		return fmt.Errorf("field sliding_window_pattern = %d must be positive", c.SlidingWindowPattern)
	}
	return nil
}

// checkRopeScaling checks rope_scaling for the types we compute.
func (c *Config) checkRopeScaling() error {
	rs := c.RopeScaling
	if rs == nil {
		return nil
	}
	t := rs.RopeType
	if t == "" {
		t = rs.Type
	}
	if t == "su" {
		t = "longrope" // Phi-3's first name for it
	}
	rs.RopeType = t
	switch t {
	case "default", "":
	case "linear":
		if !(rs.Factor > 0 && rs.Factor <= 1e4) {
			return fmt.Errorf("field rope_scaling.factor = %g (linear) must be in (0, 1e4]", rs.Factor)
		}
	case "llama3":
		if !(rs.Factor > 0 && rs.Factor <= 1e4) || !(rs.LowFreqFactor > 0) || !(rs.HighFreqFactor > rs.LowFreqFactor) || math.IsInf(rs.HighFreqFactor, 0) || rs.OriginalMaxPositionEmbeddings <= 0 {
			return fmt.Errorf("field rope_scaling (llama3) needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0")
		}
	case "longrope":
		half := c.HeadDim / 2
		for _, f := range []struct {
			name string
			v    []float64
		}{{"long_factor", rs.LongFactor}, {"short_factor", rs.ShortFactor}} {
			if len(f.v) != half {
				return fmt.Errorf("field rope_scaling.%s has %d values, head_dim/2 = %d needed", f.name, len(f.v), half)
			}
			for i, x := range f.v {
				if !(x > 0) || math.IsInf(x, 0) {
					return fmt.Errorf("field rope_scaling.%s[%d] = %g must be positive", f.name, i, x)
				}
			}
		}
		if c.OriginalMaxPositionEmbeddings < 0 || c.OriginalMaxPositionEmbeddings > c.MaxPositionEmbeddings {
			return fmt.Errorf("field original_max_position_embeddings = %d must be in [1, max_position_embeddings = %d]", c.OriginalMaxPositionEmbeddings, c.MaxPositionEmbeddings)
		}
		if c.OriginalMaxPositionEmbeddings == 0 && !(rs.Factor > 0) {
			return fmt.Errorf("field rope_scaling (longrope) needs original_max_position_embeddings in the config or a factor > 0")
		}
		if f := rs.AttentionFactor; f != nil && (!(*f > 0) || math.IsInf(*f, 0)) {
			return fmt.Errorf("field rope_scaling.attention_factor = %g must be positive", *f)
		}
	default:
		return fmt.Errorf("field rope_scaling.rope_type %q is not supported (default, linear, llama3 and longrope are)", t)
	}
	return nil
}

// sameLayerBehaviour reports the first config field outside the tensors
// that makes m's layers compute differently from the base's: members of a
// family exchange layers, so they must agree on every one.
func sameLayerBehaviour(b, m *Config) error {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	switch {
	case b.Act() != m.Act():
		return fmt.Errorf("activation %s differs from the base's %s", m.Act(), b.Act())
	case b.RMSNormEps != m.RMSNormEps:
		return fmt.Errorf("rms_norm_eps %g differs from the base's %g", m.RMSNormEps, b.RMSNormEps)
	case !eq(b.QueryPreAttnScalar, m.QueryPreAttnScalar):
		return fmt.Errorf("query_pre_attn_scalar differs from the base's")
	case !eq(b.AttnLogitSoftcapping, m.AttnLogitSoftcapping) || !eq(b.FinalLogitSoftcapping, m.FinalLogitSoftcapping):
		return fmt.Errorf("attn_logit_softcapping or final_logit_softcapping differs from the base's")
	case b.RopeLocalBaseFreq != m.RopeLocalBaseFreq:
		return fmt.Errorf("rope_local_base_freq differs from the base's")
	case b.WindowFor(Sliding) != m.WindowFor(Sliding) || !slices.Equal(b.LayerTypesFor(b.NumHiddenLayers), m.LayerTypesFor(b.NumHiddenLayers)):
		return fmt.Errorf("sliding_window or the layer kinds (layer_types, sliding_window_pattern) differ from the base's")
	}
	return nil
}

// LayerIndexedFields are the config fields indexed by layer, renumbered
// for a built model whose layer k has kind kinds[k] (what build writes
// over the base's): layer_types.
func (c *Config) LayerIndexedFields(kinds []LayerKind) map[string]any {
	out := map[string]any{}
	if c.Spec().LayerKinds != "" || c.present("layer_types") {
		lt := make([]string, len(kinds))
		for i, k := range kinds {
			lt[i] = k.String()
		}
		out["layer_types"] = lt
	}
	return out
}

// Features lists how the architecture's layers differ from Llama's, for
// inspect: one short phrase each.
func (c *Config) Features() []string {
	a := c.Spec()
	var f []string
	if a.Has(QKV) {
		f = append(f, "fused qkv_proj and gate_up_proj")
	}
	if a.Has(QNorm) {
		f = append(f, "per-head q/k RMSNorm")
	}
	if a.NormPlusOne {
		f = append(f, "RMSNorm × (1 + w)")
	}
	if a.Has(PostAttnNorm) {
		f = append(f, "post-attention and post-MLP norms")
	}
	if a.EmbedScale != "" {
		f = append(f, "embeddings × √hidden")
	}
	f = append(f, "MLP "+c.Act())
	if a.QueryPreAttnScalar {
		f = append(f, fmt.Sprintf("query_pre_attn_scalar %g", *c.QueryPreAttnScalar))
	}
	if v := c.AttnSoftCap(); v > 0 {
		f = append(f, fmt.Sprintf("attention soft cap %g", v))
	}
	if v := c.FinalSoftCap(); v > 0 {
		f = append(f, fmt.Sprintf("logit soft cap %g", v))
	}
	if rs := c.RopeScaling; rs != nil && rs.RopeType != "" && rs.RopeType != "default" {
		f = append(f, "rope_scaling "+rs.RopeType)
	}
	if a.LocalRope {
		f = append(f, fmt.Sprintf("RoPE base %g global, %g sliding", c.RopeTheta, c.RopeLocalBaseFreq))
	}
	return f
}

// KindsSummary is the layer kinds of the config's layers, one letter a
// layer (G global, S sliding) with the window, or "" when every layer is
// global.
func (c *Config) KindsSummary() string {
	var b strings.Builder
	sliding := false
	for i := 0; i < c.NumHiddenLayers; i++ {
		if c.KindAt(i) == Sliding {
			b.WriteByte('S')
			sliding = true
		} else {
			b.WriteByte('G')
		}
	}
	if !sliding {
		return ""
	}
	return fmt.Sprintf("%s (window %d)", b.String(), c.WindowFor(Sliding))
}

// TensorName is the checkpoint name of a layer tensor of this
// architecture.
func (a *Arch) TensorName(role string, layer int) string {
	return strings.ReplaceAll(a.Layer[role], "{i}", fmt.Sprint(layer))
}
