package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build --repair, eval --plan --repair and prune --repair on calibration
// text of one repeated character: the repair is checked on held-out
// windows, left out as worse, and each says so; build writes the plan
// without it and eval scores the unrepaired plan.
func TestDegenerateRepairLeftOutByCommands(t *testing.T) {
	dir := t.TempDir()
	rep := filepath.Join(dir, "rep.txt")
	os.WriteFile(rep, []byte(strings.Repeat("a", 400000)), 0o644)
	base, _ := filepath.Abs(filepath.Join(repoData, "stories260K-base"))
	planPath := filepath.Join(dir, "cut.json")
	os.WriteFile(planPath, []byte(`{"models":{"base":"`+base+`"},"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",4]}]}`), 0o644)
	const said = "repair left out: it makes the held-out calibration NLL worse"
	evalJSON := func(args ...string) (evalResult, string) {
		t.Helper()
		code, out, errOut := runCLI(t, "", append([]string{"eval", "--plan", planPath, "--data", filepath.Join(repoData, "data", "stories.jsonl"), "--seq", "128", "--windows", "8", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: %s", args, errOut)
		}
		var r evalResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r, errOut
	}
	plain, _ := evalJSON()
	repaired, errOut := evalJSON("--repair", rep)
	if !strings.Contains(errOut, said) || repaired.RepairCheck == nil || repaired.RepairCheck.Kept || repaired.RepairCheck.Windows != 16 {
		t.Errorf("eval --repair: check %+v, stderr %q", repaired.RepairCheck, errOut)
	}
	if repaired.NLL != plain.NLL {
		t.Errorf("eval with the left-out repair: NLL %v, unrepaired %v", repaired.NLL, plain.NLL)
	}
	out := filepath.Join(dir, "built")
	code, _, errOut := runCLI(t, "", "build", planPath, "--repair", rep, "-o", out)
	if code != 0 || !strings.Contains(errOut, said) {
		t.Fatalf("build --repair: exit %d, %q", code, errOut)
	}
	written, _ := os.ReadFile(filepath.Join(out, "gptailor-plan.json"))
	if strings.Contains(string(written), `"repair"`) {
		t.Errorf("build wrote the left-out repair into its plan: %s", written)
	}
	code, pruned, errOut := runCLI(t, "", "prune", "--model", base, "--method", "last", "-n", "1", "--repair", rep)
	if code != 0 || !strings.Contains(errOut, "repair ") {
		t.Fatalf("prune --repair: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, said) == strings.Contains(pruned, `"repair"`) {
		t.Errorf("prune: stderr %q and plan %s disagree on the repair", errOut, pruned)
	}
}
