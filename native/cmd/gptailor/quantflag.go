package main

import (
	"fmt"

	"github.com/gptailor/gptailor/native/gguf"
)

// evalQuant is eval's --quant (gguf.F32: none).
var evalQuant = gguf.F32

// parseQuant reads --quant: none, q8_0 or q4_0.
func parseQuant(s string, plan bool) (gguf.Type, error) {
	switch s {
	case "", "none":
		return gguf.F32, nil
	case "q8_0", "q4_0":
		if plan {
			return 0, fmt.Errorf("--quant %s: only with --model for now (build the plan, then eval --model)", s)
		}
		t, _ := gguf.ParseType(s)
		return t, nil
	}
	return 0, fmt.Errorf("--quant %q: none, q8_0 or q4_0", s)
}
