package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/shared/plan"
)

// A block-granularity search with repair runs end to end: its candidates
// are sub-block plans with the repair, its baselines include BlockPruner
// and repaired ShortGPT, and resuming with another granularity or repair
// is refused.
func TestBlockSearchWithRepair(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	calib := filepath.Join(repoData, "data", "stories.jsonl")
	args := []string{"search", "--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--run", run,
		"--min-budget", "1", "--max-budget", "3", "--seed", "2", "--trials", "12", "--granularity", "block", "--repair", calib, "--repair-samples", "8", "--json"}
	for _, a := range []string{"base", "code", "math"} {
		args = append(args, "--family", filepath.Join(repoData, "stories260K-"+a))
	}
	code, out, errOut := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("search: %d\n%s", code, errOut)
	}
	var sum searchSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r := sum.Repair; r == nil || r.Fits == 0 || r.Cuts < r.Fits || r.Seconds <= 0 {
		t.Errorf("repair stats %+v", sum.Repair)
	}
	kinds := map[string]string{}
	for _, r := range sum.Rows {
		kinds[r.Kind] = r.Name()
	}
	if !strings.HasPrefix(kinds["blockpruner"], "BlockPruner (drops attn") || !strings.HasSuffix(kinds["shortgpt"], "+ repair") {
		t.Errorf("baselines %v", kinds)
	}
	split := 0
	raw, _ := os.ReadFile(filepath.Join(run, "trials.jsonl"))
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var tr struct {
			Config search.Config `json:"config"`
		}
		if err := json.Unmarshal([]byte(line), &tr); err != nil || tr.Config.MLPRemoved == nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		if !slices.Equal(tr.Config.Removed, tr.Config.MLPRemoved) || !slices.Equal(tr.Config.Subset, tr.Config.MLPSubset) {
			split++
		}
	}
	if split == 0 {
		t.Error("no trial used sub-blocks")
	}
	best, err := os.ReadFile(filepath.Join(run, "best-plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := plan.Parse(best); err != nil || p.Repair == nil || p.Repair.Samples != 8 {
		t.Errorf("best plan without its repair: %v\n%s", err, best)
	}
	code, _, errOut = runCLI(t, "", "search", "--run", run, "--resume", "--granularity", "layer")
	if code != 1 || !strings.Contains(errOut, "--granularity layer (the run has block)") {
		t.Errorf("resume with another granularity: %d %s", code, errOut)
	}
}

func TestSurgeryBadInput(t *testing.T) {
	base := filepath.Join(repoData, "stories260K-base")
	tasks := filepath.Join(repoData, "demo-tasks.yaml")
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.txt")
	os.WriteFile(tiny, []byte("Once upon a time."), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "--family", base, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", tasks, "--run", filepath.Join(dir, "a"), "--granularity", "head"}, `granularity "head": one of layer, block`},
		{[]string{"search", "--family", base, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", tasks, "--run", filepath.Join(dir, "b"), "--repair", filepath.Join(dir, "missing.txt")}, "repair calibration " + filepath.Join(dir, "missing.txt") + ": stat"},
		{[]string{"search", "--family", base, "--family", filepath.Join(repoData, "stories260K-code"), "--tasks", tasks, "--run", filepath.Join(dir, "c"), "--repair", tiny}, "6 tokens in 1 windows, fewer than the hidden size 64"},
		{[]string{"eval", "--model", base, "--data", tiny, "--repair", tiny}, "--repair goes with --plan"},
	} {
		code, _, errOut := runCLI(t, "", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: %d %s, want %q", c.args, code, errOut, c.want)
		}
	}
	full := filepath.Join(dir, "full.json")
	os.WriteFile(full, []byte(`{"models":{"base":"`+base+`"},"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",3]},{"take":["base",4]}]}`), 0o644)
	if code, _, errOut := runCLI(t, "", "build", full, "-o", filepath.Join(dir, "out"), "--repair", tiny); code == 0 || !strings.Contains(errOut, "nothing to repair") {
		t.Errorf("build --repair of a plan without cuts: %d %s", code, errOut)
	}
}

func TestPlanShowSubBlocksAndRepair(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.json")
	doc := `{"models":{"base":"` + filepath.Join(repoData, "stories260K-base") + `","code":"` + filepath.Join(repoData, "stories260K-code") + `","math":"` + filepath.Join(repoData, "stories260K-math") + `"},
	 "slots":[{"take":["base",0]},{"take":["code",1],"mlp":["math",1]},{"take":["base",2],"attn":"none"},{"take":["base",4]}],
	 "repair":{"method":"linear","calibration":"calib.jsonl"}}`
	os.WriteFile(p, []byte(doc), 0o644)
	code, out, e := runCLI(t, "", "plan", "show", p)
	if code != 0 {
		t.Fatalf("%d %s", code, e)
	}
	for _, w := range []string{"code[1] · mlp: math[1]", "base[2] · attn: none", "repair linear on calib.jsonl (64 windows of 128 tokens", "layers 3–3 into slot 2", "(22.2% removed)"} {
		if !strings.Contains(out, w) {
			t.Errorf("plan show lacks %q:\n%s", w, out)
		}
	}
}
