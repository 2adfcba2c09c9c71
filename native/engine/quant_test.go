package engine

import (
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/model"
)

// --quant on a model whose matrices a quantized GGUF file would all keep
// at F16 is refused, naming the config fields; one with any whole-block
// rows is accepted; full precision is always accepted.
func TestCheckQuant(t *testing.T) {
	odd := &model.Config{HiddenSize: 48, IntermediateSize: 100}
	err := CheckQuant(odd, gguf.Q4_0)
	if err == nil || !strings.Contains(err.Error(), "hidden_size 48 and intermediate_size 100") {
		t.Errorf("hidden 48, intermediate 100: %v", err)
	}
	if err := CheckQuant(odd, gguf.F32); err != nil {
		t.Errorf("full precision refused: %v", err)
	}
	if err := CheckQuant(&model.Config{HiddenSize: 64, IntermediateSize: 172}, gguf.Q8_0); err != nil {
		t.Errorf("the demo's shape refused: %v", err)
	}
	for _, s := range []string{"", "none"} {
		if q, err := ParseQuant(s); err != nil || q != gguf.F32 {
			t.Errorf("ParseQuant(%q) = %v, %v", s, q, err)
		}
	}
	if _, err := ParseQuant("f16"); err == nil {
		t.Error("--quant f16 accepted (a GGUF --type, not a quantization)")
	}
}
