package ggufexport

import (
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
)

// A plan scored with --quant (the builder's quantized view: merges in full
// precision then quantized, cross-model takes, skipped sub-blocks, a
// repair fitted on the quantized prefix, BF16 shards, Qwen2 and Mistral)
// computes with exactly the weights the exported GGUF file stores: its
// logits equal those of a net of the file's tensors as an independent
// reader decodes them.
func TestQuantPlanIsTheFile(t *testing.T) {
	dir := t.TempDir()
	// The Llama, Mistral and Qwen2 cases; the newer architectures' files
	// (Qwen3, Gemma, Phi-3) are checked by TestLlamaCpp, not here yet.
	for _, c := range cases {
		switch c.name {
		case "demo-base", "demo-merges", "demo-subblock", "demo-repaired", "bf16-sharded", "qwen2", "mistral":
		default:
			continue
		}
		for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0} {
			path, b, p := c.export(t, dir, typ)
			gf, vals, _ := readBack(t, path)
			fromFile := netFromGGUF(t, *b.Family.Base().Config, vals, len(p.Slots), gf)
			quant, err := b.Quantized(typ).Net(p)
			if err != nil {
				t.Fatal(err)
			}
			full, err := b.Net(p)
			if err != nil {
				t.Fatal(err)
			}
			seq := []int{1, 20, 30, 40, 50, 60, 70, 80, 90, 100}
			var rows []engine.Row
			for i := range seq {
				rows = append(rows, engine.Row{Seq: 0, Row: i})
			}
			logits := func(n *engine.Net) [][]float32 {
				out := make([][]float32, len(seq))
				if err := n.Rows([]engine.Seq{{Tokens: seq}}, rows, func(i int, lg []float32) { out[i] = append([]float32(nil), lg...) }); err != nil {
					t.Fatal(err)
				}
				return out
			}
			want, got, fp := logits(fromFile), logits(quant), logits(full)
			var worst, moved float64
			for i := range want {
				for k := range want[i] {
					worst = max(worst, math.Abs(float64(got[i][k]-want[i][k])))
					moved = max(moved, math.Abs(float64(fp[i][k]-want[i][k])))
				}
			}
			if worst > 1e-5 {
				t.Errorf("%s %s: the quantized plan's logits differ from the file's weights' by %g", c.name, typ, worst)
			}
			// The full-precision net is not the file: quantization moved
			// the logits (so the check above compares something).
			if moved < 1e-4 {
				t.Errorf("%s %s: full-precision logits within %g of the quantized file's: quantization did nothing", c.name, typ, moved)
			}
			t.Logf("%s %s: |quant − file| %.2g, |full − file| %.3g", c.name, typ, worst, moved)
		}
	}
}
