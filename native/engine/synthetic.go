package engine

import (
	"math"
	"math/rand/v2"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/model"
)

// SyntheticConfig describes a Llama-shaped model (tied embeddings, no
// biases) for benchmarks and tests that need shapes but no checkpoint.
func SyntheticConfig(hidden, inter, layers, heads, kvHeads, vocab int) *model.Config {
	return &model.Config{
		ModelType: "llama", HiddenSize: hidden, IntermediateSize: inter, NumHiddenLayers: layers,
		NumAttentionHeads: heads, NumKeyValueHeads: kvHeads, HeadDim: hidden / heads, VocabSize: vocab,
		MaxPositionEmbeddings: 2048, RMSNormEps: 1e-5, RopeTheta: 10000, TieWordEmbeddings: true,
	}
}

// RandomTensors draws one layer's tensors (the roles of cfg's
// architecture) with scale 1/sqrt(fan-in); norms multiply by 1.
func RandomTensors(cfg *model.Config, r *rand.Rand) Tensors {
	t := Tensors{}
	for _, role := range cfg.Roles() {
		shape := cfg.ExpectedShape(role)
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		switch {
		case model.NormRole(role) && cfg.Spec().NormPlusOne:
			// a (1 + w) norm of weight 0 multiplies by 1
		case model.NormRole(role):
			for i := range v {
				v[i] = 1
			}
		default:
			s := 1 / math.Sqrt(float64(shape[len(shape)-1]))
			for i := range v {
				v[i] = float32(r.NormFloat64() * s)
			}
		}
		t[role] = v
	}
	return t
}

// RandomNet builds a net of random weights for cfg.
func RandomNet(cfg *model.Config, seed uint64) *Net { return randomNet(cfg, seed, false) }

// RandomNetBF16 is RandomNet with every weight rounded to bfloat16, as a
// BF16 checkpoint holds them (kept in 16-bit panels where the kernel can).
func RandomNetBF16(cfg *model.Config, seed uint64) *Net { return randomNet(cfg, seed, true) }

func randomNet(cfg *model.Config, seed uint64, half bool) *Net {
	r := rand.New(rand.NewPCG(seed, seed+1))
	layers := make([]*Layer, cfg.NumHiddenLayers)
	for i := range layers {
		t := RandomTensors(cfg, r)
		if half {
			for _, v := range t {
				bf16.Round(v)
			}
		}
		l, err := NewLayer(cfg, t)
		if err != nil {
			panic(err) // shapes come from cfg itself
		}
		l.Kind = cfg.KindAt(i)
		layers[i] = l
	}
	emb := make([]float32, cfg.VocabSize*cfg.HiddenSize)
	for i := range emb {
		emb[i] = float32(r.NormFloat64() * 0.02)
	}
	if half {
		bf16.Round(emb)
	}
	norm := make([]float32, cfg.HiddenSize)
	for i := range norm {
		if !cfg.Spec().NormPlusOne {
			norm[i] = 1
		}
	}
	h, err := NewHead(cfg, &HeadTensors{Embed: emb, FinalNorm: norm})
	if err != nil {
		panic(err)
	}
	return NewNet(cfg, h, layers)
}
