package generate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/task"
)

// A generate_until task run through the task machinery on ForTasks gives,
// sample by sample, the net's greedy continuation (Net.Greedy, one
// sequence at a time) cut before the first stop string, and scores
// exact_match on it.
func TestTaskGenerateUntil(t *testing.T) {
	g := demo(t)
	dir := t.TempDir()
	lines := []string{
		`{"prompt": "Once upon a time, there was a little", "target": "girl named Lily"}`,
		`{"prompt": "Once upon a time, there was a big", "targets": ["dog", "cat"]}`,
		`{"prompt": "Lily wanted to play with her", "targets": ["ball", "toys"]}`,
		`{"prompt": "The sun was", "target": "hot"}`,
	}
	path := filepath.Join(dir, "gen.jsonl")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	list := filepath.Join(dir, "tasks.yaml")
	os.WriteFile(list, []byte("tasks:\n  - name: next-word\n    type: generate_until\n    path: gen.jsonl\n    generate:\n      until: [\".\", \",\", \"\\n\"]\n      max_tokens: 8\n      filter: [{function: strip}]\n"), 0o644)
	l, err := task.ReadList(list)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ForTasks(g.Net, g.Tok, demoDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := task.Run(&task.Model{Name: "base", Net: g.Net, Tok: g.Tok, Gen: gen}, &l.Tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	prompts := []string{"Once upon a time, there was a little", "Once upon a time, there was a big", "Lily wanted to play with her", "The sun was"}
	targets := [][]string{{"girl named Lily"}, {"dog", "cat"}, {"ball", "toys"}, {"hot"}}
	correct := 0
	for i, p := range prompts {
		ids := g.Tok.Encode(p, true)
		out, err := g.Net.Greedy(ids, 8, g.Tok.EOS)
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := g.Tok.Decode(out)
		head, _ := g.Tok.Decode(ids)
		text := whole[len(head):]
		cut := len(text)
		for _, u := range []string{".", ",", "\n"} {
			if k := strings.Index(text, u); k >= 0 && k < cut {
				cut = k
			}
		}
		want := text[:cut]
		s := res.Samples[i]
		if s.Output != want {
			t.Fatalf("sample %d: generated %q, greedy alone %q", i, s.Output, want)
		}
		ok := false
		for _, tg := range targets[i] {
			ok = ok || strings.TrimSpace(want) == tg
		}
		if *s.Correct != ok {
			t.Fatalf("sample %d: %q correct %v, want %v", i, s.Output, *s.Correct, ok)
		}
		if ok {
			correct++
		}
	}
	if em := res.Metrics["exact_match"]; em != float64(correct)/4 || correct != 2 {
		t.Fatalf("exact_match %v, want %v", em, float64(correct)/4)
	}
	t.Logf("exact_match %v: %+v", res.Metrics["exact_match"], res.Samples)
}
