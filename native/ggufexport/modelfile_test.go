package ggufexport

import (
	"os"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/gguf"
)

func TestModelfile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cs   exportCase
		want []string
	}{
		{cases[0], []string{"FROM ./demo-base-q8_0.gguf\n", "TEMPLATE \"\"\"{{ .Prompt }}\"\"\"", `PARAMETER stop "</s>"`}},
		{cases[5], []string{"FROM ./qwen2-q8_0.gguf\n", "<|im_start|>{{ .Role }}", `PARAMETER stop "<|im_end|>"`}},
	} {
		b, p := c.cs.open(t)
		res, err := Export(b, p, Options{Out: dir + "/" + c.cs.name + "-q8_0.gguf", Type: gguf.Q8_0})
		if err != nil {
			t.Fatal(err)
		}
		path, err := WriteModelfile(res, false)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		for _, w := range c.want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%s: Modelfile lacks %q:\n%s", c.cs.name, w, got)
			}
		}
		if _, err := WriteModelfile(res, false); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Errorf("existing Modelfile replaced without --force: %v", err)
		}
	}
}
