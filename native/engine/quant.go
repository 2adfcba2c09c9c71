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
	dims, row, head := 2, q.cfg.HiddenSize, false
	switch name {
	case model.AttnNorm, model.MLPNorm, model.QBias, model.KBias, model.VBias, HeadNorm:
		dims = 1
	case HeadEmbed:
		head = q.cfg.TieWordEmbeddings
	case HeadLM:
		head = true
	default: // every layer role by its shape: the newer norms are vectors too
		switch s := q.cfg.ExpectedShape(name); len(s) {
		case 1:
			dims = 1
		case 2:
			row = s[1]
		}
	}
	out := append([]float32(nil), v...) // the source's slice may be shared
	return out, gguf.RoundTrip(gguf.StorageType(q.t, dims, row, head), out)
}

func (q quantSource) Half(name string, _ int, _ func([]uint16) error) error {
	return fmt.Errorf("tensor %s: quantized tensors are given as float32", name)
}
