package task

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gptailor/gptailor/native/chattemplate"
)

// lmevalCase is one case of testdata/lmeval_expected.json, written by lm-eval's
// own filter and exact_match logic (testdata/lmeval_expected.py).
type lmevalCase struct {
	Filter     []FilterStep `json:"filter"`
	ExactMatch MatchOptions `json:"exact_match"`
	Response   string       `json:"response"`
	Targets    []string     `json:"targets"`
	Answer     string       `json:"answer"`
	Score      float64      `json:"score"`
}

func lmevalCases(t *testing.T) []lmevalCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/lmeval_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []lmevalCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestFiltersAndExactMatchAsLmEval(t *testing.T) {
	for i, c := range lmevalCases(t) {
		filter, err := compileFilter(c.Filter, "filter")
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		match, err := compileMatch(c.ExactMatch, "exact_match")
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		answer := filter(c.Response)
		if answer != c.Answer {
			t.Errorf("case %d %q: filtered %q, lm-eval %q", i, c.Response, answer, c.Answer)
		}
		if got := match.any(c.Answer, c.Targets); got != (c.Score == 1) {
			t.Errorf("case %d %q vs %q: match %v, lm-eval %v", i, c.Answer, c.Targets, got, c.Score)
		}
	}
}

// scripted answers each prompt from a table; it records what it was asked.
type scripted struct {
	mu      sync.Mutex
	answers map[string]string
	prompts []GenPrompt
	until   []string
	max     int
}

func (s *scripted) GenerateUntil(_ context.Context, prompts []GenPrompt, until []string, maxTokens int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prompts = append(s.prompts, prompts...)
	s.until, s.max = until, maxTokens
	out := make([]string, len(prompts))
	for i, p := range prompts {
		key := p.Text
		if p.Text == "" {
			m := p.Messages.Messages
			key = *m[len(m)-1].Content
		}
		out[i] = s.answers[key]
	}
	return out, nil
}

// The GSM8K task file states lm-eval's strict and flexible filters: applied
// to lm-eval's GSM8K cases they give lm-eval's answers, and a run builds
// lm-eval's few-shot prompt.
func TestGSM8KTaskFile(t *testing.T) {
	l, err := ReadList("testdata/gsm8k/tasks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Tasks) != 2 {
		t.Fatalf("%d tasks", len(l.Tasks))
	}
	strict, flexible := l.Tasks[0].Generate, l.Tasks[1].Generate
	checked := 0
	for i, c := range lmevalCases(t) {
		var g *GenSpec
		switch {
		case len(c.Filter) > 0 && c.Filter[0].RegexPattern == strict.Filter[0].RegexPattern && c.Filter[0].GroupSelect == 0:
			g = strict
		case len(c.Filter) > 0 && c.Filter[0].RegexPattern == flexible.Filter[0].RegexPattern:
			g = flexible
		default:
			continue
		}
		checked++
		filter, _ := compileFilter(g.Filter, "")
		match, _ := compileMatch(g.ExactMatch, "")
		if a := filter(c.Response); a != c.Answer || match.any(a, c.Targets) != (c.Score == 1) {
			t.Errorf("case %d: %q -> %q (lm-eval %q, score %v)", i, c.Response, a, c.Answer, c.Score)
		}
	}
	if checked < 8 {
		t.Fatalf("only %d GSM8K cases in the fixture", checked)
	}

	items, err := ParseGenerate(mustRead(t, "testdata/gsm8k/test.jsonl"), "test.jsonl", false)
	if err != nil {
		t.Fatal(err)
	}
	shots, err := ParseGenerate(mustRead(t, "testdata/gsm8k/fewshot.jsonl"), "fewshot.jsonl", false)
	if err != nil {
		t.Fatal(err)
	}
	// The answers: the right number after ####, the right number last but
	// no ####, and a wrong one.
	gen := &scripted{answers: map[string]string{}}
	context := shots[0].Prompt + " " + shots[0].Targets[0] + "\n\n" + shots[1].Prompt + " " + shots[1].Targets[0] + "\n\n"
	for i, it := range items {
		final := it.Targets[0][strings.LastIndex(it.Targets[0], "#### ")+5:]
		switch i % 3 {
		case 0:
			gen.answers[context+it.Prompt] = " Some steps.\n#### " + final
		case 1:
			gen.answers[context+it.Prompt] = " So the answer is " + final + "."
		default:
			gen.answers[context+it.Prompt] = " #### 123456"
		}
	}
	m := &Model{Gen: gen}
	want := map[string]float64{"gsm8k-strict": 2.0 / 5, "gsm8k-flexible": 4.0 / 5}
	for _, s := range l.Tasks {
		r, err := Run(m, &s)
		if err != nil {
			t.Fatal(err)
		}
		if r.Metrics["exact_match"] != want[s.Name] || r.Primary != "exact_match" || !r.HigherIsBetter {
			t.Errorf("%s: %v (primary %s), want exact_match %v", s.Name, r.Metrics, r.Primary, want[s.Name])
		}
	}
	if len(gen.prompts) != 10 || !strings.HasPrefix(gen.prompts[0].Text, context+"Question: ") {
		t.Errorf("prompts %+v", gen.prompts)
	}
	if strings.Join(gen.until, "|") != "Question:|</s>|<|im_end|>" || gen.max != 256 {
		t.Errorf("until %q, max tokens %d", gen.until, gen.max)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A budget's results are the smaller budget's plus the samples in
// between, and the bootstrap resamples exact_match.
func TestGenerateBudgetReuse(t *testing.T) {
	var lines []string
	gen := &scripted{answers: map[string]string{}}
	for i := range 10 {
		p := "Count: " + strings.Repeat("x", i+1)
		lines = append(lines, `{"prompt": "`+p+`", "targets": ["`+strings.Repeat("x", i+1)+`", "n/a"]}`)
		if i%3 != 2 {
			gen.answers[p] = " " + strings.Repeat("x", i+1) + "\nmore"
		}
	}
	path := write(t, "count.jsonl", strings.Join(lines, "\n")+"\n")
	l, err := ReadList(path)
	if err != nil {
		t.Fatal(err)
	}
	s := l.Tasks[0]
	if s.Type != "generate_until" {
		t.Fatalf("sniffed %q", s.Type)
	}
	s.Generate = &GenSpec{Filter: []FilterStep{{Function: "strip"}, {Function: "regex", RegexPattern: `^x+`}}}
	m := &Model{Gen: gen}
	whole := s
	whole.Limit = 10
	full, err := Run(m, &whole)
	if err != nil {
		t.Fatal(err)
	}
	if full.Metrics["exact_match"] != 0.7 {
		t.Errorf("exact_match %v, want 0.7", full.Metrics)
	}
	if full.Samples[0].Output != " x\nmore" || full.Samples[0].Answer != "x" || full.Samples[2].Answer != "[invalid]" {
		t.Errorf("samples %+v", full.Samples[:3])
	}
	part := s
	part.Limit = 4
	first, err := Run(m, &part)
	if err != nil {
		t.Fatal(err)
	}
	rest := whole
	rest.From = 4
	next, err := Run(m, &rest)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(&whole, first, next)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Metrics["exact_match"] != full.Metrics["exact_match"] || merged.Metrics["exact_match_stderr"] != full.Metrics["exact_match_stderr"] {
		t.Errorf("merged %v, whole %v", merged.Metrics, full.Metrics)
	}
	if v, ok := PrimaryOn(full, []int{0, 2, 2, 3}); !ok || v != 0.5 {
		t.Errorf("PrimaryOn %v %v, want 0.5", v, ok)
	}
}

// Chat tasks give the generator conversations: few-shot turns after the
// system message, a prompt as a user message.
func TestGenerateChatPrompts(t *testing.T) {
	dir := t.TempDir()
	writeIn := func(name, s string) {
		if err := os.WriteFile(dir+"/"+name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIn("shots.jsonl", `{"prompt": "2+2?", "target": "4"}`+"\n")
	writeIn("chat.jsonl", `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "3+3?"}], "target": "6"}
{"prompt": "1+1?", "targets": ["2", "two"]}
`)
	writeIn("tasks.yaml", "tasks:\n  - name: c\n    type: generate_until\n    path: chat.jsonl\n    generate: {chat: true, fewshot: 1, fewshot_path: shots.jsonl, exact_match: {ignore_case: true}}\n")
	l, err := ReadList(dir + "/tasks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gen := &scripted{answers: map[string]string{"3+3?": "6", "1+1?": "TWO"}}
	r, err := Run(&Model{Gen: gen}, &l.Tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["exact_match"] != 1 {
		t.Errorf("%v %+v", r.Metrics, r.Samples)
	}
	roles := func(c chattemplate.Conversation) string {
		var s []string
		for _, m := range c.Messages {
			s = append(s, m.Role+":"+*m.Content)
		}
		return strings.Join(s, " ")
	}
	if got := roles(gen.prompts[0].Messages); got != "system:Be brief. user:2+2? assistant:4 user:3+3?" {
		t.Errorf("first conversation %q", got)
	}
	if got := roles(gen.prompts[1].Messages); got != "user:2+2? assistant:4 user:1+1?" || gen.prompts[1].Text != "" {
		t.Errorf("second conversation %q", got)
	}
}

func TestGenerateBadInput(t *testing.T) {
	dir := t.TempDir()
	good := `{"prompt": "p", "target": "t"}` + "\n"
	cases := []struct{ name, data, spec, want string }{
		{"targets empty", `{"prompt": "p", "targets": []}`, "", `bad.jsonl:1: field "targets" is empty`},
		{"target empty", good + `{"prompt": "p", "target": ""}`, "", `bad.jsonl:2: field "targets"[0] is empty`},
		{"no target", `{"prompt": "p"}`, "", `field "target" (or "targets") is missing`},
		{"no prompt", `{"target": "t"}`, "", `bad.jsonl:1: needs "prompt"`},
		{"messages without chat", `{"messages": [{"role": "user", "content": "x"}], "target": "t"}`, "", `field "messages" needs a chat task`},
		{"message content", `{"messages": [{"role": "user", "content": 3}], "target": "t"}`, "chat: true", `bad.jsonl:1: field "messages": conversation: message 0: "content" is a number`},
		{"message role", `{"messages": [{"content": "x"}], "target": "t"}`, "chat: true", `message 0 has no "role"`},
		{"unknown filter", good, "filter: [{function: regex}, {function: majority}]", `tasks[0].generate.filter[1].function "majority" is not a filter`},
		{"bad regex", good, "filter: [{function: regex, regex_pattern: '(?<=a)b'}]", `tasks[0].generate.filter[0].regex_pattern:`},
		{"stray field", good, "filter: [{function: lowercase, fallback: x}]", `filter[0]: regex_pattern, group_select and fallback belong to a regex step`},
		{"bad ignore regex", good, "exact_match: {regexes_to_ignore: ['(a']}", `tasks[0].generate.exact_match.regexes_to_ignore[0]`},
		{"empty stop", good, "until: ['']", `tasks[0].generate.until[0] is empty`},
		{"max tokens", good, "max_tokens: -1", `tasks[0].generate.max_tokens -1 must be >= 1`},
		{"fewshot without file", good, "fewshot: 2", `tasks[0].generate.fewshot_path`},
		{"unknown field", good, "temperature: 1", `field temperature not found`},
	}
	for _, c := range cases {
		data := dir + "/bad.jsonl"
		if err := os.WriteFile(data, []byte(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		list := "tasks:\n  - name: x\n    type: generate_until\n    path: bad.jsonl\n"
		if c.spec != "" {
			list += "    generate: {" + c.spec + "}\n"
		}
		if err := os.WriteFile(dir+"/tasks.yaml", []byte(list), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		l, err := ReadList(dir + "/tasks.yaml")
		if err == nil {
			_, err = Run(&Model{Gen: &scripted{}}, &l.Tasks[0])
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// generation settings on another task type, and a model that does not generate
	if err := os.WriteFile(dir+"/tasks.yaml", []byte("tasks:\n  - name: x\n    type: perplexity\n    path: bad.jsonl\n    generate: {max_tokens: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadList(dir + "/tasks.yaml"); err == nil || !strings.Contains(err.Error(), "only generate_until tasks take generation settings") {
		t.Errorf("generate on perplexity: %v", err)
	}
	os.WriteFile(dir+"/bad.jsonl", []byte(good), 0o644)
	if _, err := Run(&Model{}, &Spec{Name: "x", Type: "generate_until", Path: dir + "/bad.jsonl"}); err == nil || !strings.Contains(err.Error(), "no generator") {
		t.Errorf("no generator: %v", err)
	}
}

func FuzzParseGenerate(f *testing.F) {
	f.Add([]byte(`{"prompt": "p", "target": "t"}`), false)
	f.Add([]byte(`{"messages": [{"role": "user", "content": "x"}], "targets": ["a", "b"]}`), true)
	f.Add([]byte(`{"prompt": "", "targets": [1]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, chat bool) {
		items, err := ParseGenerate(data, "f.jsonl", chat)
		if err != nil {
			return
		}
		for _, it := range items {
			if len(it.Targets) == 0 || (it.Prompt == "") == (it.Messages == nil) {
				t.Fatalf("accepted an item without targets or with neither or both prompt and messages: %+v", it)
			}
		}
	})
}
