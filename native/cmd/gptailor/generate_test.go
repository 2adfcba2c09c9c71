package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

func genLines(t *testing.T, out string) []genResult {
	t.Helper()
	var rs []genResult
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r genResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// generate --json prints the greedy continuation the engine computes, with
// the fields the README lists; the text streams to stdout without --json.
func TestGenerateGreedy(t *testing.T) {
	dir := filepath.Join(repoData, "stories260K-base")
	code, out, errOut := runCLI(t, "", "generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "30", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rs := genLines(t, out)
	m, _ := model.Open(dir)
	defer m.Close()
	net, _ := engine.NewLoader().Net(m, nil)
	tok, _ := tokenizer.Load(dir)
	prompt := tok.Encode("Once upon a time", true)
	want, _ := net.Greedy(prompt, 30, tok.EOS)
	text, _ := tok.Decode(want)
	head, _ := tok.Decode(prompt)
	r := rs[0]
	if len(rs) != 1 || fmt.Sprint(r.Tokens) != fmt.Sprint(want[len(prompt):]) || r.Text != text[len(head):] ||
		r.PromptTokens != len(prompt) || r.FinishReason != "length" || r.TokensPerSecond <= 0 || r.PromptTokensPerSecond <= 0 {
		t.Fatalf("got %+v\nwant tokens %v text %q", rs, want[len(prompt):], text[len(head):])
	}
	code, out, _ = runCLI(t, "", "generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "30")
	if code != 0 || out != r.Text+"\n" {
		t.Fatalf("streamed %q, want %q", out, r.Text+"\n")
	}
	// A stop string is cut with what follows; its tokens are not listed.
	code, out, _ = runCLI(t, "", "generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "30", "--stop", "girl", "--stop", "zzz", "--json")
	s := genLines(t, out)[0]
	if i := strings.Index(r.Text, "girl"); code != 0 || s.Text != r.Text[:i] || s.FinishReason != "stop" || len(s.Tokens) >= len(r.Tokens) {
		t.Fatalf("--stop girl: %+v", s)
	}
}

// --prompts runs a batch; --compare runs the same prompts on several
// members and a plan, one object per model and prompt.
func TestGeneratePromptsAndCompare(t *testing.T) {
	tmp := t.TempDir()
	prompts := filepath.Join(tmp, "p.jsonl")
	os.WriteFile(prompts, []byte("{\"prompt\": \"Once upon a time\"}\n\n{\"prompt\": \"The dog\"}\n"), 0o644)
	base := filepath.Join(repoData, "stories260K-base")
	code, out, errOut := runCLI(t, "", "generate", "--model", base, "--prompts", prompts, "--max-tokens", "12", "--json", "--temperature", "0.7", "--seed", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rs := genLines(t, out)
	if len(rs) != 2 || rs[0].Prompt != 1 || rs[1].Prompt != 2 || rs[0].Text == rs[1].Text {
		t.Fatalf("%+v", rs)
	}
	// One at a time gives the same texts (a sequence's draws do not depend
	// on the batch).
	code, out, _ = runCLI(t, "", "generate", "--model", base, "--prompts", prompts, "--max-tokens", "12", "--json", "--temperature", "0.7", "--seed", "5", "--batch", "1")
	if one := genLines(t, out); code != 0 || one[0].Text != rs[0].Text || one[1].Text != rs[1].Text {
		t.Fatalf("batch 1: %+v, batch 8: %+v", one, rs)
	}
	plan := filepath.Join(tmp, "plan.json")
	os.WriteFile(plan, []byte(`{"slots":[{"take":["base",0]},{"take":["code",1]},{"take":["base",2],"attn":"none"},{"take":["math",4]}]}`), 0o644)
	fam := []string{"--family", "base=" + base, "--family", "code=" + filepath.Join(repoData, "stories260K-code"), "--family", "math=" + filepath.Join(repoData, "stories260K-math")}
	args := append([]string{"generate", "--compare", "base,code," + plan, "--prompts", prompts, "--max-tokens", "10", "--json"}, fam...)
	code, out, errOut = runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rs = genLines(t, out)
	if len(rs) != 6 || rs[0].Model != "base" || rs[1].Model != "code" || rs[2].Model != plan || rs[3].Prompt != 2 || rs[0].Text == rs[1].Text {
		t.Fatalf("%+v", rs)
	}
	args = append([]string{"generate", "--compare", "base,code", "--prompt", "Once", "--max-tokens", "10"}, fam...)
	if code, out, _ = runCLI(t, "", args...); code != 0 || !strings.Contains(out, "--- base ---\n") || !strings.Contains(out, "--- code ---\n") {
		t.Fatalf("side by side without a terminal: %q", out)
	}
}

// --chat renders the prompt (after --system) with a chat template; a
// --prompts line of messages too, with its other variables.
func TestGenerateChat(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(repoData, "stories260K-base")
	tpl := filepath.Join(tmp, "t.jinja")
	os.WriteFile(tpl, []byte("{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if topic is defined %}({{ topic }}){% endif %}{% if add_generation_prompt %}assistant:{% endif %}"), 0o644)
	tok, _ := tokenizer.Load(base)
	code, out, errOut := runCLI(t, "", "generate", "--model", base, "--template", tpl, "--chat", "--system", "Be brief.", "--prompt", "Tell a story.", "--max-tokens", "5", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := tok.Encode("<s>system: Be brief.\nuser: Tell a story.\nassistant:", false)
	if r := genLines(t, out)[0]; r.PromptTokens != len(want) || want[0] != tok.BOS {
		t.Fatalf("prompt tokens %d, want %d (%v)", r.PromptTokens, len(want), want)
	}
	prompts := filepath.Join(tmp, "m.jsonl")
	os.WriteFile(prompts, []byte(`{"messages": [{"role": "user", "content": "Hi"}], "topic": "dogs"}`+"\n"), 0o644)
	code, out, errOut = runCLI(t, "", "generate", "--model", base, "--template", tpl, "--prompts", prompts, "--max-tokens", "5", "--json")
	want = tok.Encode("<s>user: Hi\n(dogs)assistant:", false)
	if r := genLines(t, out); code != 0 || r[0].PromptTokens != len(want) {
		t.Fatalf("exit %d %s: %+v, want %d prompt tokens", code, errOut, r, len(want))
	}
}

// Bad input is refused naming the flag, line or field.
func TestGenerateRefuses(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Join(repoData, "stories260K-base")
	file := func(name, body string) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prompt", "a", "--max-tokens", "0"}, "--max-tokens 0: must be at least 1"},
		{[]string{"--prompt", "a", "--temperature", "-0.5"}, "--temperature -0.5"},
		{[]string{"--prompt", "a", "--top-p", "1.2"}, "--top-p 1.2: must be in (0, 1]"},
		{[]string{"--prompt", "a", "--top-p", "0"}, "--top-p 0: must be in (0, 1]"},
		{[]string{"--prompt", "a", "--repeat-penalty", "0"}, "--repeat-penalty 0: must be more than 0"},
		{[]string{"--prompt", ""}, "--prompt is empty"},
		{[]string{"--prompt", "a", "--prompts", file("two.jsonl", "{\"prompt\": \"a\"}\n")}, "--prompt and --prompts: give one"},
		{[]string{"--prompt", "a", "--top-k", "-1"}, "--top-k -1"},
		{[]string{"--prompt", "a", "--stop", ""}, "--stop #1 is empty"},
		{[]string{"--prompt", "a", "--kv", "f8"}, `--kv "f8": f32 or bf16`},
		{[]string{"--prompt", "a", "--max-tokens", "600"}, "2 prompt tokens + --max-tokens 600 = 602 exceed the model's context of 512 tokens"},
		{[]string{"--prompts", file("bad.jsonl", "{\"prompt\": \"a\"}\n\xff\xfe\n")}, "bad.jsonl line 2: not UTF-8 text"},
		{[]string{"--prompts", file("empty.jsonl", "{\"prompt\": \"\"}\n")}, `empty.jsonl line 1: field "prompt" is empty`},
		{[]string{"--prompts", file("msg.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": 3}]}\n")}, `msg.jsonl line 1: conversation: message 0: "content" is a number, want a string or null`},
		{[]string{"--prompts", file("msg2.jsonl", "{\"messages\": \"hi\"}\n")}, `msg2.jsonl line 1: conversation: "messages" is a string, want an array`},
		{[]string{"--prompts", file("both.jsonl", "{\"prompt\": \"a\", \"messages\": []}\n")}, `both.jsonl line 1: want one of "prompt"`},
		{[]string{"--prompts", file("none.jsonl", "\n")}, "none.jsonl: no prompts"},
		{[]string{"--prompt", "a", "--system", "s"}, "--system goes with --chat"},
		{[]string{"--prompt", "a", "--chat"}, "has no chat template"},
		{[]string{"--prompt", "a", "--chat", "--template", file("raise.jinja", "{{ raise_exception('no system role here') }}")}, "prompt 1: no system role here"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"generate", "--model", base}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if code, _, _ := runCLI(t, "", "generate", "--model", base); code != 2 {
		t.Errorf("no prompt: exit %d, want 2 (usage)", code)
	}
	// --compare resolves every entry before running any: nothing is
	// generated when the last one is not a model.
	code, out, errOut := runCLI(t, "", "generate", "--compare", "base,nosuch", "--family", "base="+base, "--prompt", "Once", "--max-tokens", "3")
	if code != 1 || out != "" || !strings.Contains(errOut, "--compare nosuch: not a family alias") || strings.Contains(errOut, "prompt tokens at") {
		t.Errorf("--compare with an unknown entry: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// eval --tasks runs a generate_until task on the engine's generator.
func TestEvalGenerateUntilTask(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gen.jsonl"), []byte(`{"prompt": "Once upon a time, there was a little", "target": "girl named Lily"}
{"prompt": "Lily wanted to play with her", "target": "ball"}
`), 0o644)
	list := filepath.Join(dir, "tasks.yaml")
	os.WriteFile(list, []byte("tasks:\n  - name: words\n    type: generate_until\n    path: gen.jsonl\n    generate:\n      until: [\".\", \",\"]\n      max_tokens: 8\n      filter: [{function: strip}]\n"), 0o644)
	code, out, errOut := runCLI(t, "", "eval", "--model", filepath.Join(repoData, "stories260K-base"), "--tasks", list, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"exact_match,none": 0.5`) {
		t.Fatalf("want exact_match 0.5 (girl named Lily right, toys ≠ ball): %s", out)
	}
}

// A plan mixing a merge, a cross-model take, a skipped attention and a
// linear repair generates, through the CLI, the same tokens as the model
// `gptailor build` writes from it (greedy, and sampled with one seed).
func TestGeneratePlanEqualsBuiltModel(t *testing.T) {
	tmp := t.TempDir()
	calib, _ := filepath.Abs(filepath.Join(repoData, "data", "stories.jsonl"))
	plan := filepath.Join(tmp, "plan.json")
	os.WriteFile(plan, []byte(`{"slots":[
		{"take":["base",0]},
		{"merge":{"method":"ties","layer":1,"models":["base","code","math"],"density":0.5}},
		{"take":["code",2],"mlp":["math",2]},
		{"take":["base",3],"attn":"none"}
	],"repair":{"method":"linear","calibration":`+fmt.Sprintf("%q", calib)+`,"samples":16}}`), 0o644)
	fam := []string{"--family", "base=" + filepath.Join(repoData, "stories260K-base"), "--family", "code=" + filepath.Join(repoData, "stories260K-code"), "--family", "math=" + filepath.Join(repoData, "stories260K-math")}
	built := filepath.Join(tmp, "built")
	if code, _, errOut := runCLI(t, "", append([]string{"build", plan, "-o", built}, fam...)...); code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	prompts := filepath.Join(tmp, "p.jsonl")
	os.WriteFile(prompts, []byte("{\"prompt\": \"Once upon a time\"}\n{\"prompt\": \"The little dog\"}\n"), 0o644)
	for _, sampling := range [][]string{nil, {"--temperature", "0.9", "--top-k", "40", "--seed", "7"}} {
		args := append(append([]string{"generate", "--compare", plan + "," + built, "--prompts", prompts, "--max-tokens", "24", "--json", "--ignore-eos"}, sampling...), fam...)
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", sampling, code, errOut)
		}
		rs := genLines(t, out)
		if len(rs) != 4 {
			t.Fatalf("%v: %d results, want 4: %s", sampling, len(rs), out)
		}
		for i := 0; i < 4; i += 2 {
			p, b := rs[i], rs[i+1]
			if p.Model != plan || b.Model != built || len(p.Tokens) != 24 || fmt.Sprint(p.Tokens) != fmt.Sprint(b.Tokens) || p.Text != b.Text {
				t.Errorf("%v prompt %d: plan %v %q, built model %v %q", sampling, p.Prompt, p.Tokens, p.Text, b.Tokens, b.Text)
			}
		}
	}
}
