package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	repoData = filepath.Join("..", "..", "..", "testdata")
)

func runCLI(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	stdin = strings.NewReader(input)
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func goldenNLL(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "nll.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]any
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func mean(vs []any) float64 {
	var s float64
	for _, v := range vs {
		s += v.(float64)
	}
	return s / float64(len(vs))
}

// eval on the domain files reproduces the reference's first eight 128-token
// windows: text → tokenizer → windows → forward pass → NLL, end to end.
func TestEvalMatchesGolden(t *testing.T) {
	g := goldenNLL(t)
	nll := g["nll"].(map[string]any)
	cases := []struct{ model, dir, domain string }{
		{"base", filepath.Join(repoData, "stories260K-base"), "stories"},
		{"code", filepath.Join(repoData, "stories260K-code"), "code"},
		{"math", filepath.Join(repoData, "stories260K-math"), "docs"},
		{"base-bf16-sharded", filepath.Join(repoData, "stories260K-base-bf16-sharded"), "math"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, "", "eval", "--model", c.dir, "--data", filepath.Join(repoData, "data", c.domain+".jsonl"), "--seq", "128", "--windows", "8", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.model, code, errOut)
		}
		var res evalResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: %v in %q", c.model, err, out)
		}
		want := mean(nll[c.model].(map[string]any)[c.domain].([]any))
		if res.Tokens != 8*127 || math.Abs(res.NLL-want) > 2e-4 {
			t.Errorf("%s/%s: %d tokens, NLL %.6f; reference %d tokens, %.6f", c.model, c.domain, res.Tokens, res.NLL, 8*127, want)
		}
		if math.Abs(res.Perplexity-math.Exp(res.NLL)) > 1e-9 || res.BitsPerByte <= 0 || res.TokensPerSecond <= 0 {
			t.Errorf("%s: inconsistent result %+v", c.model, res)
		}
	}
}

// A dropped layer goes through the same path: --layers 0,1,2,4 is the
// reference's drop-3 plan.
func TestEvalDroppedLayer(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pg struct {
		Plans []struct {
			Name string
			NLL  map[string][]any
		}
	}
	json.Unmarshal(raw, &pg)
	var want float64
	for _, p := range pg.Plans {
		if p.Name == "drop-3" {
			want = mean(p.NLL["stories"])
		}
	}
	code, out, errOut := runCLI(t, "", "eval", "--model", filepath.Join(repoData, "stories260K-base"), "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--seq", "128", "--windows", "8", "--layers", "0-2,4", "--json")
	if code != 0 {
		t.Fatal(errOut)
	}
	var res evalResult
	json.Unmarshal([]byte(out), &res)
	if math.Abs(res.NLL-want) > 2e-4 || len(res.Layers) != 4 {
		t.Errorf("drop-3: NLL %.6f layers %v; reference %.6f", res.NLL, res.Layers, want)
	}
}

func TestTokenizeCommand(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"cases"`
	}
	json.Unmarshal(raw, &g)
	var in, want strings.Builder
	for _, c := range g.Cases {
		b, _ := json.Marshal(map[string]string{"text": c.Text})
		in.Write(append(b, '\n'))
		ids, _ := json.Marshal(c.IDs)
		want.Write(append(ids, '\n'))
	}
	code, out, errOut := runCLI(t, in.String(), "tokenize", "--tokenizer", filepath.Join(repoData, "stories260K-base"))
	if code != 0 || out != want.String() {
		t.Errorf("exit %d, stderr %q\n got  %q\n want %q", code, errOut, out, want.String())
	}
	code, _, errOut = runCLI(t, "{\"text\": \"ok\"}\n{\"txt\": 1}\n", "tokenize", "--tokenizer", filepath.Join(repoData, "stories260K-base"))
	if code != 1 || !strings.Contains(errOut, "stdin:2: field \"text\" is missing") {
		t.Errorf("bad line: exit %d, %q", code, errOut)
	}
}

func TestInspect(t *testing.T) {
	code, out, errOut := runCLI(t, "", "inspect", "--json", filepath.Join(repoData, "stories260K-base"), filepath.Join(repoData, "stories260K-code"))
	if code != 0 {
		t.Fatal(errOut)
	}
	var reps []inspectReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatal(err)
	}
	// 260K parameters: 5 layers of 45,440 plus 512×64 tied embeddings and a norm.
	if len(reps) != 2 || reps[0].ParamsPerLayer != 45440 || reps[0].ParamsTotal != 5*45440+512*64+64 || !*reps[1].CompatibleToBase {
		t.Errorf("unexpected report %+v", reps)
	}
	baby := filepath.Join(repoData, "babyllama-105")
	code, out, _ = runCLI(t, "", "inspect", filepath.Join(repoData, "stories260K-base"), baby)
	if code != 1 || !strings.Contains(out, "NOT compatible: model 105") {
		t.Errorf("mismatched family: exit %d\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"eval"}, {"eval", "--model", "x"}, {"tokenize"}, {"inspect"}} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	code, _, errOut := runCLI(t, "", "eval", "--model", filepath.Join(repoData, "stories260K-base"), "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--layers", "0,9")
	if code != 1 || !strings.Contains(errOut, "layer 9 out of range [0, 5)") {
		t.Errorf("bad --layers: exit %d %q", code, errOut)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"fine\"}\n{\"text\": 3}\n"), 0o644)
	code, _, errOut = runCLI(t, "", "eval", "--model", filepath.Join(repoData, "stories260K-base"), "--data", bad)
	if code != 1 || !strings.Contains(errOut, "bad.jsonl:2: field \"text\" must be a string") {
		t.Errorf("bad data: exit %d %q", code, errOut)
	}
}

// plan subcommands, eval --plan and build, end to end on the demo family.
func TestPlanEvalBuild(t *testing.T) {
	dir := t.TempDir()
	models := map[string]string{}
	for _, a := range []string{"base", "code", "docs", "math"} {
		abs, _ := filepath.Abs(filepath.Join(repoData, "stories260K-"+a))
		models[a] = abs
	}
	var slots []any
	for _, l := range []int{0, 1, 2, 4} {
		slots = append(slots, map[string]any{"take": []any{"base", l}})
	}
	doc, _ := json.Marshal(map[string]any{"version": 1, "name": "drop-3", "models": models, "slots": slots})
	planPath := filepath.Join(dir, "drop3.json")
	os.WriteFile(planPath, doc, 0o644)

	code, out, errOut := runCLI(t, "", "plan", "validate", planPath)
	if code != 0 || !strings.Contains(out, "valid: 4 slots, 214.6K parameters, 17.5% removed") {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "plan", "show", planPath)
	if code != 0 || !strings.Contains(out, "base[4]") {
		t.Errorf("show: %q", out)
	}
	yml := filepath.Join(dir, "drop3.yml")
	if code, _, errOut = runCLI(t, "", "plan", "to-mergekit", planPath, "-o", yml); code != 0 {
		t.Fatalf("to-mergekit: %s", errOut)
	}
	back := filepath.Join(dir, "back.json")
	if code, _, errOut = runCLI(t, "", "plan", "from-mergekit", yml, "-o", back); code != 0 {
		t.Fatalf("from-mergekit: %s", errOut)
	}
	evalJSON := func(args ...string) evalResult {
		t.Helper()
		code, out, errOut := runCLI(t, "", append([]string{"eval", "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--seq", "128", "--windows", "8", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: %s", args, errOut)
		}
		var r evalResult
		json.Unmarshal([]byte(out), &r)
		return r
	}
	a, b := evalJSON("--plan", planPath), evalJSON("--plan", back)
	c := evalJSON("--model", filepath.Join(repoData, "stories260K-base"), "--layers", "0,1,2,4")
	if a.NLL != b.NLL || a.NLL != c.NLL {
		t.Errorf("plan %v, via mergekit %v, --layers %v", a.NLL, b.NLL, c.NLL)
	}
	built := filepath.Join(dir, "built")
	if code, out, errOut = runCLI(t, "", "build", planPath, "-o", built); code != 0 || !strings.Contains(out, "wrote") {
		t.Fatalf("build: %s %s", out, errOut)
	}
	if d := evalJSON("--model", built); d.NLL != a.NLL {
		t.Errorf("built model %v, plan %v", d.NLL, a.NLL)
	}
	if code, _, errOut = runCLI(t, "", "build", planPath, "-o", built); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("rebuild without --force: %d %s", code, errOut)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"models":{"base":"`+models["base"]+`"},"slots":[{"take":["base",9]},{"merge":{"method":"ties","layer":0,"models":["ghost"]}}]}`), 0o644)
	code, _, errOut = runCLI(t, "", "plan", "validate", bad)
	if code != 1 || !strings.Contains(errOut, "slots[0].take.layer: layer 9 out of range [0, 5)") || !strings.Contains(errOut, `slots[1].merge.models[0]: unknown model "ghost"`) {
		t.Errorf("bad plan: %d %s", code, errOut)
	}
}

// eval --tasks prints lm-eval's layout, retention against a reference, and
// a sandboxed scorer's score.
func TestEvalTasks(t *testing.T) {
	arc := filepath.Join(repoData, "data", "tasks", "arc_easy.jsonl")
	dir := t.TempDir()
	list := filepath.Join(dir, "tasks.yaml")
	os.WriteFile(list, []byte("tasks:\n  - name: arc\n    path: "+arc+"\n    limit: 20\n    weight: 2\n  - name: ppl\n    path: "+filepath.Join(repoData, "data", "stories.jsonl")+"\n    limit: 5\n"), 0o644)
	skeleton := filepath.Join("..", "..", "scorer", "examples", "wat", "skeleton.wasm")
	code, out, errOut := runCLI(t, "", "eval", "--model", filepath.Join(repoData, "stories260K-math"), "--tasks", list,
		"--reference", filepath.Join(repoData, "stories260K-base"), "--scorer", skeleton, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Results   map[string]map[string]any `json:"results"`
		NSamples  map[string]map[string]int `json:"n-samples"`
		Retention map[string]float64        `json:"retention"`
		Config    map[string]any            `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Results["arc"]["acc,none"].(float64); !ok || rep.NSamples["arc"]["effective"] != 20 || rep.NSamples["arc"]["original"] != 500 {
		t.Errorf("results %v n-samples %v", rep.Results, rep.NSamples)
	}
	if _, ok := rep.Results["ppl"]["bits_per_byte,none"]; !ok {
		t.Errorf("perplexity metrics %v", rep.Results["ppl"])
	}
	want := (2*rep.Retention["arc"] + rep.Retention["ppl"]) / 3
	if math.Abs(rep.Retention["mean"]-want) > 1e-12 || rep.Retention["ppl"] >= 1 {
		t.Errorf("retention %v", rep.Retention)
	}
	if rep.Config["score"] != 1.0 {
		t.Errorf("scorer result %v", rep.Config)
	}
}

// A short real search on the demo family, interrupted and resumed, and
// prune baselines as plans.
func TestSearchAndPrune(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	args := []string{"search", "--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", run,
		"--min-budget", "1", "--max-budget", "3", "--compare=false", "--seed", "4"}
	for _, a := range []string{"base", "code", "docs", "math"} {
		args = append(args, "--family", filepath.Join(repoData, "stories260K-"+a))
	}
	code, out, errOut := runCLI(t, "", append(args, "--trials", "5")...)
	if code != 0 || !strings.Contains(out, "winning plan:") {
		t.Fatalf("search: %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "", append(args, "--trials", "5")...)
	if code != 1 || !strings.Contains(errOut, "--resume") {
		t.Errorf("a second search into the same run: %d %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "", "search", "--run", run, "--resume", "--trials", "9", "--compare=false")
	if code != 0 {
		t.Fatalf("resume: %s", errOut)
	}
	raw, _ := os.ReadFile(filepath.Join(run, "trials.jsonl"))
	if n := strings.Count(string(raw), "\n"); n != 9 {
		t.Errorf("%d journaled trials after resuming to 9", n)
	}
	for _, f := range []string{"report.md", "objective.svg", "pareto.svg", "best-plan.json", "pareto.json"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, errOut := runCLI(t, "", "plan", "validate", filepath.Join(run, "best-plan.json")); errOut != "" {
		t.Errorf("best plan: %s", errOut)
	}
	planOut := filepath.Join(dir, "short.json")
	code, _, errOut = runCLI(t, "", "prune", "--model", filepath.Join(repoData, "stories260K-base"), "--method", "shortgpt", "-n", "2",
		"--data", filepath.Join(repoData, "data", "stories.jsonl"), "-o", planOut)
	if code != 0 || !strings.Contains(errOut, "shortgpt removes layers") {
		t.Fatalf("prune: %d %s", code, errOut)
	}
	if code, out, _ = runCLI(t, "", "plan", "validate", planOut); code != 0 || !strings.Contains(out, "3 slots") {
		t.Errorf("pruned plan: %s", out)
	}
	lacoOut := filepath.Join(dir, "laco.json")
	code, _, errOut = runCLI(t, "", "prune", "--model", filepath.Join(repoData, "stories260K-base"), "--method", "laco", "-n", "2",
		"--data", filepath.Join(repoData, "data", "stories.jsonl"), "-o", lacoOut)
	if code != 0 || !strings.Contains(errOut, "laco collapses layers [2 3]") {
		t.Fatalf("prune laco: %d %s", code, errOut)
	}
	if code, out, errOut = runCLI(t, "", "eval", "--plan", lacoOut, "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--limit", "2"); code != 0 || !strings.Contains(out, "perplexity") {
		t.Errorf("eval of the LaCo plan: %d %s %s", code, out, errOut)
	}
	ext := append(append([]string{}, args...), "--run", filepath.Join(dir, "ext"), "--trials", "5", "--param-budget", "0.8", "--methods", "task_arithmetic,ties,slerp", "--weights")
	if code, _, errOut = runCLI(t, "", ext...); code != 0 || !strings.Contains(errOut, "removing 2 of 5 layers keeps 65.1% of the parameters") {
		t.Errorf("extensions: %d %s", code, errOut)
	}
	scored := append(append([]string{}, args...), "--run", filepath.Join(dir, "scored"), "--trials", "3", "--scorer", filepath.Join("..", "..", "scorer", "examples", "wat", "skeleton.wasm"))
	if code, out, errOut = runCLI(t, "", scored...); code != 0 || !strings.Contains(out, "winning plan:") {
		t.Errorf("scored search: %d %s %s", code, out, errOut)
	}
	bad := append([]string{}, args...)
	bad[2] = "5"
	if code, _, errOut = runCLI(t, "", append(bad[:len(bad):len(bad)], "--run", filepath.Join(dir, "r2"))...); code != 1 || !strings.Contains(errOut, "cannot remove 5 of 5 layers") {
		t.Errorf("impossible target: %d %s", code, errOut)
	}
}
