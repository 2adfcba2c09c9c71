package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
)

// eval --tasks reports the objective a search judges by: a one-trial
// search's winner, evaluated with eval at the search's samples, gets the
// objective the search's result row gave it.
func TestEvalObjectiveIsTheSearchs(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	base, code := filepath.Join(repoData, "stories260K-base"), filepath.Join(repoData, "stories260K-code")
	tasks := filepath.Join(repoData, "demo-tasks.yaml")
	if c, _, e := runCLI(t, "", "search", "--family", base, "--family", code, "--remove", "1", "--tasks", tasks, "--trials", "1",
		"--min-budget", "2", "--max-budget", "2", "--compare=false", "--prefix-cache-mb", "0", "--run", run); c != 0 {
		t.Fatalf("search: exit %d: %s", c, e)
	}
	raw, err := os.ReadFile(filepath.Join(run, session.RowsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rows []session.Row
	if err := json.Unmarshal(raw, &rows); err != nil || len(rows) == 0 {
		t.Fatalf("rows: %v %s", err, raw)
	}
	b, _ := plan.Marshal(rows[0].Plan)
	planPath := filepath.Join(dir, "winner.json")
	os.WriteFile(planPath, b, 0o644)
	c, out, e := runCLI(t, "", "eval", "--plan", planPath, "--family", "base="+base, "--family", "code="+code, "--tasks", tasks, "--samples", "2", "--json")
	if c != 0 {
		t.Fatalf("eval: exit %d: %s", c, e)
	}
	var rep struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got, ok := rep.Config["objective"].(float64)
	if !ok || math.Abs(got-rows[0].Objective) > 1e-12 || rep.Config["objective_name"] != session.DefaultObjective.String() {
		t.Errorf("eval's objective %v (%v), the search's %v (%s)", rep.Config["objective"], rep.Config["objective_name"], rows[0].Objective, session.DefaultObjective)
	}
}
