package ggufexport

import (
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
)

// eval --quant computes with exactly the weights the GGUF file stores:
// the engine's QuantSource net and a net of the file's decoded tensors give
// the same logits.
func TestQuantEvalIsTheFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []exportCase{cases[0], cases[4]} {
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
			if worst > 1e-5 {
				t.Errorf("%s %s: eval --quant logits differ from the file's weights' by %g", c.name, typ, worst)
			}
		}
	}
}
