package ggufexport

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
)

// eval --quant computes with exactly the weights the GGUF file stores:
// the engine's QuantSource net and a net of the file's decoded tensors give
// the same logits.
func TestQuantEvalIsTheFile(t *testing.T) {
	dir := t.TempDir()
	full := func(name string, layers int, label string) exportCase {
		var slots []string
		for i := 0; i < layers; i++ {
			slots = append(slots, fmt.Sprintf(`{"take":["base",%d]}`, i))
		}
		return exportCase{label, tinyDirs(name), `{"slots":[` + strings.Join(slots, ",") + `]}`}
	}
	for _, c := range []exportCase{cases[0], cases[4], full("qwen3", 4, "qwen3-base"), full("gemma2", 4, "gemma2-base"), full("gemma3", 6, "gemma3-base"), full("phi3", 4, "phi-base")} {
		for _, typ := range []gguf.Type{gguf.Q8_0, gguf.Q4_0} {
			path, b, p := c.export(t, dir, typ)
			gf, vals, _ := readBack(t, path)
			base := b.Family.Base()
			fromFile := netFromGGUF(t, *base.Config, vals, len(p.Slots), gf)
			l := engine.NewLoader()
			l.Quant = typ
			quant, err := l.Net(base, nil)
			if err != nil {
				t.Fatal(err)
			}
			seq := []int{1, 20, 30, 40, 50, 60, 70, 80}
			var rows []engine.Row
			for i := range seq {
				rows = append(rows, engine.Row{Seq: 0, Row: i})
			}
			want := make([][]float32, len(seq))
			if err := fromFile.Rows([]engine.Seq{{Tokens: seq}}, rows, func(i int, lg []float32) { want[i] = append([]float32(nil), lg...) }); err != nil {
				t.Fatal(err)
			}
			var worst float64
			if err := quant.Rows([]engine.Seq{{Tokens: seq}}, rows, func(i int, lg []float32) {
				for k := range lg {
					worst = max(worst, math.Abs(float64(lg[k]-want[i][k])))
				}
			}); err != nil {
				t.Fatal(err)
			}
			// Gemma 2 with its query scale folded into attn_q (this family's
			// query_pre_attn_scalar is 256, head_dim 32): the file quantizes
			// c·W, eval --quant W scaled after — equal up to the quantization
			// grain, not bit for bit (RATIONALE).
			tol := 1e-5
			if c.name == "gemma2-base" {
				tol = 1e-3
			}
			t.Logf("%s %s: largest |Δ logit| %.2g", c.name, typ, worst)
			if worst > tol {
				t.Errorf("%s %s: eval --quant logits differ from the file's weights' by %g", c.name, typ, worst)
			}
		}
	}
}
