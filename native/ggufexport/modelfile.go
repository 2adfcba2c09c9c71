package ggufexport

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/atomicfile"
)

// chatML is Ollama's Go-template form of the ChatML chat template (Qwen's
// <|im_start|>role ... <|im_end|>).
const chatML = `{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`

// Modelfile is an Ollama Modelfile for the GGUF file written: FROM the
// file, the chat template (ChatML translated to Ollama's Go template;
// any other Jinja template is left to Ollama, which reads
// tokenizer.chat_template from the file itself; none: a plain prompt),
// the end-of-sequence stop tokens, and the sampling defaults of the
// base's generation_config.json.
func Modelfile(res *Result) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# Written by gptailor build --ollama. Use: ollama create NAME -f %s\n", filepath.Base(res.Path)+".Modelfile")
	fmt.Fprintf(&s, "FROM ./%s\n", filepath.Base(res.Path))
	v := res.Vocab
	stops := map[string]bool{}
	switch {
	case strings.Contains(v.ChatTemplate, "<|im_start|>"):
		fmt.Fprintf(&s, "TEMPLATE \"\"\"%s\"\"\"\n", chatML)
		stops["<|im_end|>"] = true
	case v.ChatTemplate != "":
		s.WriteString("# The chat template is the file's tokenizer.chat_template (Jinja), which Ollama reads itself.\n")
	default:
		s.WriteString("# The base has no chat template: the prompt is passed as is.\nTEMPLATE \"\"\"{{ .Prompt }}\"\"\"\n")
	}
	if v.EOS >= 0 && v.EOS < len(v.Tokens) {
		stops[v.Tokens[v.EOS]] = true
	}
	for _, st := range sortedKeys(stops) {
		fmt.Fprintf(&s, "PARAMETER stop %q\n", st)
	}
	if raw, err := os.ReadFile(filepath.Join(res.BaseDir, "generation_config.json")); err == nil {
		var g map[string]any
		if json.Unmarshal(raw, &g) == nil {
			for _, k := range []string{"temperature", "top_p", "top_k", "repetition_penalty"} {
				if x, ok := g[k].(float64); ok {
					name := k
					if k == "repetition_penalty" {
						name = "repeat_penalty"
					}
					fmt.Fprintf(&s, "PARAMETER %s %v\n", name, x)
				}
			}
		}
	}
	return s.String()
}

// WriteModelfile writes Modelfile(res) to the GGUF file's path +
// ".Modelfile", refusing to replace one unless forced.
func WriteModelfile(res *Result, force bool) (string, error) {
	p := res.Path + ".Modelfile"
	if _, err := os.Stat(p); err == nil && !force {
		return "", fmt.Errorf("%s exists (use --force to replace it)", p)
	}
	return p, atomicfile.Write(p, []byte(Modelfile(res)), 0o644)
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
