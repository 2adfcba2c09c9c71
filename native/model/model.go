package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/native/safetensors"
)

// Model is one opened checkpoint directory. Tensors are read lazily.
type Model struct {
	Name    string // alias within a family ("base", "code", ...)
	Dir     string
	Config  *Config
	Arch    Arch
	Tensors *safetensors.Checkpoint
	roles   []string // layer roles present in this model
}

// Open reads dir/config.json, opens the checkpoint's headers and checks that
// every tensor the architecture needs is present with the right shape.
func Open(dir string) (*Model, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Name: filepath.Base(dir), Dir: dir, Config: cfg, Arch: architectures[cfg.ModelType], Tensors: ck}
	m.roles = cfg.Roles()
	if err := m.checkShapes(); err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the checkpoint files.
func (m *Model) Close() error { return m.Tensors.Close() }

// Roles lists the layer tensor roles this model has.
func (m *Model) Roles() []string { return m.roles }

// LayerTensorName is the checkpoint name of a layer tensor.
func (m *Model) LayerTensorName(role string, layer int) string {
	return strings.ReplaceAll(m.Arch.Layer[role], "{i}", strconv.Itoa(layer))
}

// LMHeadName is the tensor holding the output projection (the embeddings when tied).
func (m *Model) LMHeadName() string {
	if m.Config.TieWordEmbeddings {
		return m.Arch.Embed
	}
	return m.Arch.LMHead
}

// Roles lists the layer tensor roles of this config's architecture, in
// LayerRoles order (biases only when the config has them).
func (c *Config) Roles() []string {
	a := c.Spec()
	var out []string
	for _, r := range LayerRoles {
		switch r {
		case QBias, KBias, VBias:
			if !c.HasAttentionBias() {
				continue
			}
		}
		if a.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// ExpectedShape is the shape a layer tensor of this config must have.
func (c *Config) ExpectedShape(role string) []int {
	d := c.HiddenSize
	switch role {
	case AttnNorm, MLPNorm, PostAttnNorm, PostMLPNorm:
		return []int{d}
	case QNorm, KNorm:
		return []int{c.HeadDim}
	case QKV:
		return []int{c.QDim() + 2*c.KVDim(), d}
	case GateUp:
		return []int{2 * c.IntermediateSize, d}
	case Q:
		return []int{c.QDim(), d}
	case K, V:
		return []int{c.KVDim(), d}
	case O:
		return []int{d, c.QDim()}
	case QBias:
		return []int{c.QDim()}
	case KBias, VBias:
		return []int{c.KVDim()}
	case Gate, Up:
		return []int{c.IntermediateSize, d}
	case Down:
		return []int{d, c.IntermediateSize}
	}
	return nil
}

func (m *Model) checkShapes() error {
	c := m.Config
	check := func(name string, want []int) error {
		info, ok := m.Tensors.Info(name)
		if !ok {
			return fmt.Errorf("[%s]: missing tensor [%s]", m.Dir, name)
		}
		if !slices.Equal(info.Shape, want) {
			return fmt.Errorf("[%s]: tensor [%s] has shape %v, config.json implies %v (hidden_size %d, intermediate_size %d, num_attention_heads %d × head_dim %d, num_key_value_heads %d)", m.Dir, name, info.Shape, want, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HeadDim, c.NumKeyValueHeads)
		}
		switch info.DType {
		case safetensors.F32, safetensors.F16, safetensors.BF16:
		default:
			return fmt.Errorf("[%s]: tensor [%s] has dtype %s; F32, F16 and BF16 are supported", m.Dir, name, info.DType)
		}
		return nil
	}
	if err := check(m.Arch.Embed, []int{c.VocabSize, c.HiddenSize}); err != nil {
		return err
	}
	if err := check(m.Arch.FinalNorm, []int{c.HiddenSize}); err != nil {
		return err
	}
	if !c.TieWordEmbeddings {
		if err := check(m.Arch.LMHead, []int{c.VocabSize, c.HiddenSize}); err != nil {
			return err
		}
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		for _, role := range m.roles {
			if err := check(m.LayerTensorName(role, i), c.ExpectedShape(role)); err != nil {
				return err
			}
		}
	}
	return nil
}

// LayerParams is the number of parameters of one decoder layer.
func (m *Model) LayerParams() int64 {
	var n int64
	for _, role := range m.roles {
		p := int64(1)
		for _, d := range m.Config.ExpectedShape(role) {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// SubBlockParams counts the parameters of one layer's attention and MLP
// sub-blocks.
func (m *Model) SubBlockParams() (attn, mlp int64) {
	for _, role := range m.roles {
		p := int64(1)
		for _, d := range m.Config.ExpectedShape(role) {
			p *= int64(d)
		}
		if AttnRole(role) {
			attn += p
		} else {
			mlp += p
		}
	}
	return attn, mlp
}

// OuterParams counts embeddings, final norm and (untied) lm_head.
func (m *Model) OuterParams() int64 {
	c := m.Config
	n := int64(c.VocabSize*c.HiddenSize + c.HiddenSize)
	if !c.TieWordEmbeddings {
		n += int64(c.VocabSize * c.HiddenSize)
	}
	return n
}

// Params is the total parameter count.
func (m *Model) Params() int64 {
	return m.OuterParams() + int64(m.Config.NumHiddenLayers)*m.LayerParams()
}

// Family is a base model and fine-tunes of it: same architecture, same
// tensor names and shapes.
type Family struct {
	Models []*Model // Models[0] is the base
}

// Base is the family's base model.
func (f *Family) Base() *Model { return f.Models[0] }

// Model finds a member by alias.
func (f *Family) Model(alias string) (*Model, bool) {
	for _, m := range f.Models {
		if m.Name == alias {
			return m, true
		}
	}
	return nil, false
}

// Names lists the aliases, base first.
func (f *Family) Names() []string {
	out := make([]string, len(f.Models))
	for i, m := range f.Models {
		out[i] = m.Name
	}
	return out
}

// Close closes every model.
func (f *Family) Close() error {
	var first error
	for _, m := range f.Models {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Member names a model directory with an alias.
type Member struct {
	Alias string
	Dir   string
}

// ParseMember reads "alias=dir" or "dir"; a bare dir gets DefaultAlias.
func ParseMember(s string) Member {
	if i := strings.Index(s, "="); i > 0 {
		return Member{Alias: s[:i], Dir: s[i+1:]}
	}
	return Member{Alias: DefaultAlias(s), Dir: s}
}

// DefaultAlias names a model after its directory: the text after the last
// '-' ("stories260K-code" -> "code"), or the whole base name.
func DefaultAlias(dir string) string {
	b := filepath.Base(filepath.Clean(dir))
	if i := strings.LastIndex(b, "-"); i >= 0 && i < len(b)-1 {
		return b[i+1:]
	}
	return b
}

// OpenFamily opens a base and its fine-tunes and checks that they agree:
// the same architecture and every tensor with the same name and shape.
// The first member is the base; its alias is forced to "base".
func OpenFamily(members []Member) (*Family, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("a family needs at least a base model")
	}
	f := &Family{}
	seen := map[string]bool{}
	for i, mem := range members {
		m, err := Open(mem.Dir)
		if err != nil {
			f.Close()
			return nil, err
		}
		m.Name = mem.Alias
		if i == 0 {
			m.Name = "base"
		}
		if seen[m.Name] {
			m.Close()
			f.Close()
			return nil, fmt.Errorf("model alias %q is used twice (name models as alias=dir)", m.Name)
		}
		seen[m.Name] = true
		f.Models = append(f.Models, m)
		if i > 0 {
			if err := Compatible(f.Models[0], m); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return f, nil
}

// Compatible reports the first difference between two models that would
// stop their layers from being exchanged or merged.
func Compatible(base, m *Model) error {
	if base.Config.ModelType != m.Config.ModelType {
		return fmt.Errorf("model %s [%s]: model_type %q differs from the base's %q: a family is one architecture", m.Name, m.Dir, m.Config.ModelType, base.Config.ModelType)
	}
	if err := sameLayerBehaviour(base.Config, m.Config); err != nil {
		return fmt.Errorf("model %s [%s]: %w", m.Name, m.Dir, err)
	}
	bc, mc := base.Config, m.Config
	if bc.HeadDim != mc.HeadDim || bc.NumAttentionHeads != mc.NumAttentionHeads || bc.NumKeyValueHeads != mc.NumKeyValueHeads || bc.RopeTheta != mc.RopeTheta || bc.TieWordEmbeddings != mc.TieWordEmbeddings {
		return fmt.Errorf("model %s [%s]: attention layout (heads, kv heads, head_dim, rope_theta, tie_word_embeddings) differs from the base's", m.Name, m.Dir)
	}
	bn, mn := base.Tensors.Names(), m.Tensors.Names()
	mset := map[string]bool{}
	for _, n := range mn {
		mset[n] = true
	}
	for _, n := range bn {
		if !mset[n] {
			return fmt.Errorf("model %s [%s]: missing tensor [%s] that the base has", m.Name, m.Dir, n)
		}
		bi, _ := base.Tensors.Info(n)
		mi, _ := m.Tensors.Info(n)
		if !slices.Equal(bi.Shape, mi.Shape) {
			return fmt.Errorf("model %s [%s]: tensor [%s] has shape %v, the base's is %v", m.Name, m.Dir, n, mi.Shape, bi.Shape)
		}
	}
	if len(mn) != len(bn) {
		bset := map[string]bool{}
		for _, n := range bn {
			bset[n] = true
		}
		for _, n := range mn {
			if !bset[n] {
				return fmt.Errorf("model %s [%s]: tensor [%s] is not in the base", m.Name, m.Dir, n)
			}
		}
	}
	return nil
}
