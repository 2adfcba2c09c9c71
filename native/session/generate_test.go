package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/internal/demo"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

// The session evaluator runs generate_until tasks on members and plans
// (the engine's batched greedy decode): the same outputs as one sample at
// a time, and a budget's later samples equal those of a whole run (the
// per-sample reuse across budgets).
func TestFamilyRunsGenerateUntil(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gen.jsonl"), []byte(`{"prompt": "Once upon a time, there was a little", "target": "girl named Lily"}
{"prompt": "Lily wanted to play with her", "targets": ["ball", "toys"]}
{"prompt": "Tom and his mom went to the", "target": "park"}
{"prompt": "One day, a cat", "target": "saw a bird"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "tasks.yaml"), []byte("tasks:\n  - name: words\n    type: generate_until\n    path: gen.jsonl\n    generate:\n      until: [\".\", \",\", \"\\n\"]\n      max_tokens: 8\n      filter: [{function: strip}]\n"), 0o644)
	l, err := task.ReadList(filepath.Join(dir, "tasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFamily(demo.Members("base", "code", "docs", "math"), FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := plan.Parse([]byte(`{"slots":[{"take":["base",0]},{"take":["code",1]},{"take":["base",2],"attn":"none"},{"take":["math",4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []Target{{Model: "base"}, {Model: "math"}, {Plan: p}} {
		whole, err := f.Run(context.Background(), tg, l.Tasks, 0)
		if err != nil {
			t.Fatal(err)
		}
		later, err := f.RunFrom(context.Background(), tg, l.Tasks, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		r := whole[0]
		if len(r.Samples) != 4 || len(later[0].Samples) != 2 {
			t.Fatalf("%s: %d samples, %d after 2", tg.Name(), len(r.Samples), len(later[0].Samples))
		}
		for i, s := range later[0].Samples {
			if s.Output != r.Samples[i+2].Output || *s.Correct != *r.Samples[i+2].Correct {
				t.Fatalf("%s sample %d: %q alone, %q in the whole run", tg.Name(), i+2, s.Output, r.Samples[i+2].Output)
			}
		}
		var outs []string
		for _, s := range r.Samples {
			outs = append(outs, s.Output)
		}
		t.Logf("%s: exact_match %.2f %q", tg.Name(), r.Metrics["exact_match"], outs)
		if tg.Model == "base" && r.Metrics["exact_match"] == 0 {
			t.Fatal(fmt.Sprintf("the base solves none of %q", outs))
		}
	}
}
