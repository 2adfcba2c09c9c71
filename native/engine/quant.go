package engine

import (
	"fmt"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// QuantSource gives src's tensors as a GGUF file of type t stores them
// (quantized and dequantized, gguf.StorageType deciding each tensor's
// type), so a net built from it computes with the deployed weights
// (eval --quant). The values go into float32 panels.
func QuantSource(src Source, cfg *model.Config, t gguf.Type) Source {
	return quantSource{src, cfg, t}
}

type quantSource struct {
	src Source
	cfg *model.Config
	t   gguf.Type
}

func (q quantSource) Format(string) kernel.Format { return kernel.F32 }

func (q quantSource) Float32(name string) ([]float32, error) {
	v, err := q.src.Float32(name)
	if err != nil {
		return nil, err
	}
	out := append([]float32(nil), v...) // the source's slice may be shared
	return out, Quantize(q.cfg, name, out, q.t)
}

func (q quantSource) Half(name string, _ int, _ func([]uint16) error) error {
	return fmt.Errorf("tensor %s: quantized tensors are given as float32", name)
}

// Quantize replaces v, the tensor of a layer role or a head part (HeadEmbed,
// HeadNorm, HeadLM) named name, by the values a GGUF file of type t
// stores for it, in place.
func Quantize(cfg *model.Config, name string, v []float32, t gguf.Type) error {
	if t == gguf.F32 {
		return nil
	}
	dims, row, head := 2, cfg.HiddenSize, false
	switch name {
	case model.AttnNorm, model.MLPNorm, model.QBias, model.KBias, model.VBias, HeadNorm:
		dims = 1
	case HeadEmbed:
		head = cfg.TieWordEmbeddings
	case HeadLM:
		head = true
	default: // every layer role by its shape: the newer norms are vectors too
		switch s := cfg.ExpectedShape(name); len(s) {
		case 1:
			dims = 1
		case 2:
			row = s[1]
		}
	}
	if err := gguf.RoundTrip(gguf.StorageType(t, dims, row, head), v); err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	return nil
}

// ParseQuant reads a --quant value (a run's quant field): "" or none (full
// precision: gguf.F32), q8_0 or q4_0.
func ParseQuant(s string) (gguf.Type, error) {
	switch s {
	case "", "none":
		return gguf.F32, nil
	case "q8_0", "q4_0":
		return gguf.ParseType(s)
	}
	return 0, fmt.Errorf("--quant %q: none, q8_0 or q4_0", s)
}

// CheckQuant refuses a quantization that would change nothing a GGUF
// file of type t stores for this model: when no layer matrix has rows of
// whole 32-value blocks, every one is written as F16, and scoring "q4_0"
// would score F16 weights under a quantized name.
func CheckQuant(cfg *model.Config, t gguf.Type) error {
	if !t.Quantized() {
		return nil
	}
	if cfg.HiddenSize%gguf.BlockSize != 0 && cfg.IntermediateSize%gguf.BlockSize != 0 {
		return fmt.Errorf("--quant %s: config.json's hidden_size %d and intermediate_size %d are not multiples of %d, so a %s GGUF file stores every matrix as F16: the quantization would not be what is scored (use --quant none, or build --format gguf --type f16)",
			t, cfg.HiddenSize, cfg.IntermediateSize, gguf.BlockSize, t)
	}
	return nil
}

// QuantKey is what a cache key of a layer, head or activation packed with
// the weights quantized as t adds ("" for full precision).
func QuantKey(t gguf.Type) string {
	if t == gguf.F32 {
		return ""
	}
	return "@" + t.String()
}
