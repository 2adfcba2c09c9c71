package main

import (
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
)

// evalQuant is eval's --quant (gguf.F32: none): the model, the plan and
// the reference are scored with their weights as a GGUF file of this
// type stores them.
var evalQuant = gguf.F32

// parseQuant reads --quant: none, q8_0 or q4_0.
func parseQuant(s string) (gguf.Type, error) { return engine.ParseQuant(s) }

// quantName is a --quant value's name: none, q8_0 or q4_0.
func quantName(t gguf.Type) string {
	if t == gguf.F32 {
		return "none"
	}
	return t.String()
}
