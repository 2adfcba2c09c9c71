package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/runlock"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Issue 22 items 6 and 7: the app's resume continues a run on the run's
// own tasks (it took serve --tasks: four demo tasks instead of the run's
// one), and a run another process holds is refused naming its pid.
func TestAppResumeKeepsTheRunsTasksAndLock(t *testing.T) {
	runs := t.TempDir()
	s, ts := newServerWith(t, func(c *Config) { c.RunsDir = runs })
	a, _, err := dial(t, ts, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	own, _ := filepath.Abs(filepath.Join(repoData, "data", "stories.jsonl"))
	var members []model.Member
	for _, m := range s.ses.Family.Models {
		members = append(members, model.Member{Alias: m.Name, Dir: m.Dir})
	}
	dir := filepath.Join(runs, "cli-run")
	os.MkdirAll(dir, 0o755)
	st := session.DefaultSettings()
	st.Trials, st.MinBudget, st.MaxBudget, st.Optimizer = 2, 1, 3, "random"
	if err := session.WriteSpec(filepath.Join(dir, "search.json"), session.RunSpec{Family: members, Remove: 1, Tasks: own, Settings: st, RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	l, err := runlock.Acquire(dir, "gptailor search --run "+dir)
	if err != nil {
		t.Fatal(err)
	}
	e := call(t, a, "r0", protocol.SearchStart, map[string]any{"run": "cli-run", "resume": true})
	want := fmt.Sprintf("%s is in use by pid %d (gptailor search --run %s)", dir, os.Getpid(), dir)
	if e.Type != protocol.ReplyError || !strings.Contains(string(e.Payload), want) {
		t.Fatalf("resume of a held run: %s %s", e.Type, e.Payload)
	}
	l.Release()
	if e := call(t, a, "r1", protocol.SearchStart, map[string]any{"run": "cli-run", "resume": true}); e.Type != protocol.SearchStatus {
		t.Fatalf("resume: %s", e.Payload)
	}
	var status protocol.Status
	json.Unmarshal(waitFor(t, a, finished).Payload, &status)
	if status.Error != "" || len(status.Rows) == 0 {
		t.Fatalf("status %+v", status)
	}
	for _, r := range status.Rows {
		if len(r.Retention) != 1 {
			t.Errorf("row %s has %d tasks, want the run's one", r.Name, len(r.Retention))
		}
	}
	trials, err := search.ReadJournal(filepath.Join(dir, "trials.jsonl"))
	if err != nil || len(trials) != 2 || len(trials[0].Retention) != 1 {
		t.Fatalf("journal: %d trials, %v", len(trials), err)
	}
	report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(report), "| plan | stories | objective |") {
		t.Errorf("the report's columns are not the run's task:\n%s", report)
	}
}
