package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demoMembers is the demo family as absolute directories by alias.
func demoMembers() map[string]string {
	models := map[string]string{}
	for _, a := range []string{"base", "code", "docs", "math"} {
		abs, _ := filepath.Abs(filepath.Join(repoData, "stories260K-"+a))
		models[a] = abs
	}
	return models
}

// eval --plan --quant scores the deployed weights: a plan with a merge
// and a cross-model take, quantized, gives the NLL of its full-precision
// build scored with eval --model --quant (every tensor quantized by the
// same rule), and not the full-precision plan's.
func TestEvalPlanQuant(t *testing.T) {
	dir := t.TempDir()
	doc, _ := json.Marshal(map[string]any{"version": 1, "name": "merged", "models": demoMembers(), "slots": []any{
		map[string]any{"take": []any{"base", 0}},
		map[string]any{"merge": map[string]any{"method": "task_arithmetic", "layer": 1, "models": []any{"code", "math"}, "lambda": 0.5}},
		map[string]any{"take": []any{"code", 2}},
		map[string]any{"take": []any{"base", 4}},
	}})
	planPath := filepath.Join(dir, "merged.json")
	os.WriteFile(planPath, doc, 0o644)
	built := filepath.Join(dir, "built")
	if code, _, errOut := runCLI(t, "", "build", planPath, "-o", built, "--dtype", "f32"); code != 0 {
		t.Fatalf("build: %s", errOut)
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
	for _, q := range []string{"q8_0", "q4_0"} {
		p, m := evalJSON("--plan", planPath, "--quant", q), evalJSON("--model", built, "--quant", q)
		full := evalJSON("--plan", planPath)
		if p.NLL != m.NLL || p.Quant != q {
			t.Errorf("--quant %s: plan NLL %v (quant %q), its build %v", q, p.NLL, p.Quant, m.NLL)
		}
		if math.Abs(p.NLL-full.NLL) < 1e-5 || full.Quant != "none" {
			t.Errorf("--quant %s: NLL %v, full precision %v (%q): quantization changed nothing", q, p.NLL, full.NLL, full.Quant)
		}
		t.Logf("%s: NLL %.5f, full precision %.5f", q, p.NLL, full.NLL)
	}
	code, _, errOut := runCLI(t, "", "eval", "--plan", planPath, "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--quant", "q5_1")
	if code != 1 || !strings.Contains(errOut, `--quant "q5_1": none, q8_0 or q4_0`) {
		t.Errorf("--quant q5_1: %d %s", code, errOut)
	}
}

// search --quant scores every trial and row with the quantized weights:
// the winner's row equals eval --plan --tasks --quant of the best plan at
// the same samples; search.json, the report's tables and --json say the
// quantization; resume keeps it and refuses another.
func TestSearchQuant(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	tasks := filepath.Join(repoData, "demo-tasks.yaml")
	args := []string{"search", "--remove", "1", "--tasks", tasks, "--run", run,
		"--min-budget", "1", "--max-budget", "3", "--compare=false", "--seed", "2", "--quant", "q4_0", "--json"}
	for _, a := range []string{"base", "code", "docs", "math"} {
		args = append(args, "--family", filepath.Join(repoData, "stories260K-"+a))
	}
	code, out, errOut := runCLI(t, "", append(args, "--trials", "4")...)
	if code != 0 {
		t.Fatalf("search: %d\n%s", code, errOut)
	}
	var sum struct {
		Quant string `json:"quant"`
		Rows  []struct {
			Objective float64 `json:"objective"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Quant != "q4_0" || len(sum.Rows) == 0 {
		t.Fatalf("--json: %v %s", err, out)
	}
	spec, _ := os.ReadFile(filepath.Join(run, "search.json"))
	if !strings.Contains(string(spec), `"quant": "q4_0"`) {
		t.Errorf("search.json does not keep the quantization:\n%s", spec)
	}
	report, _ := os.ReadFile(filepath.Join(run, "report.md"))
	for _, want := range []string{"Weights: q4_0", "## Retention per task (weights q4_0)", "(weights q4_0)\n\n| trial |"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report.md lacks %q:\n%s", want, report)
		}
	}
	evalObjective := func(q string) float64 {
		t.Helper()
		code, out, errOut := runCLI(t, "", "eval", "--plan", filepath.Join(run, "best-plan.json"), "--tasks", tasks, "--samples", "3", "--quant", q, "--json")
		if code != 0 {
			t.Fatalf("eval: %s", errOut)
		}
		var rep struct {
			Config map[string]any `json:"config"`
		}
		json.Unmarshal([]byte(out), &rep)
		if rep.Config["quant"] != q {
			t.Errorf("eval --quant %s: config says quant %v", q, rep.Config["quant"])
		}
		v, _ := rep.Config["objective"].(float64)
		return v
	}
	if got := evalObjective("q4_0"); math.Abs(got-sum.Rows[0].Objective) > 1e-12 {
		t.Errorf("winner's objective %v in the search, %v from eval --quant q4_0", sum.Rows[0].Objective, got)
	}
	if full := evalObjective("none"); math.Abs(full-sum.Rows[0].Objective) < 1e-9 {
		t.Errorf("the full-precision objective %v equals the q4_0 one", full)
	}
	code, _, errOut = runCLI(t, "", "search", "--run", run, "--resume", "--trials", "5", "--compare=false", "--quant", "q8_0")
	if code != 1 || !strings.Contains(errOut, "--quant q8_0 (the run has q4_0)") {
		t.Errorf("resume with another --quant: %d %s", code, errOut)
	}
	if code, _, errOut = runCLI(t, "", "search", "--run", run, "--resume", "--trials", "5", "--compare=false"); code != 0 {
		t.Fatalf("resume: %s", errOut)
	}
	if spec, _ = os.ReadFile(filepath.Join(run, "search.json")); !strings.Contains(string(spec), `"quant": "q4_0"`) {
		t.Errorf("resume lost the quantization:\n%s", spec)
	}
}
