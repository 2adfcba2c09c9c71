package editor

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

func recipes(p *plan.Plan) string {
	var out []string
	for _, s := range p.Slots {
		out = append(out, strings.TrimSpace(s.Describe()))
	}
	return strings.Join(out, " | ")
}

// Every edit the grid offers, each with its one expected plan (recipes
// written out by hand), and undo/redo walking back and forth through them.
func TestEveryGridEdit(t *testing.T) {
	e := NewEditor(BasePlan(fam))
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"take", func() error { return e.Take(1, "math") }, "base[0] | math[1] | base[2] | base[3] | base[4]"},
		{"merge add to a take", func() error { return e.ToggleMerge(2, "code") }, "base[0] | math[1] | task_arithmetic(code)[2] λ=1 | base[3] | base[4]"},
		{"merge add to a merge", func() error { return e.ToggleMerge(2, "docs") }, "base[0] | math[1] | task_arithmetic(code+docs)[2] λ=1 | base[3] | base[4]"},
		{"merge remove", func() error { return e.ToggleMerge(2, "code") }, "base[0] | math[1] | task_arithmetic(docs)[2] λ=1 | base[3] | base[4]"},
		{"λ", func() error { return e.SetScale(2, 0.25) }, "base[0] | math[1] | task_arithmetic(docs)[2] λ=0.25 | base[3] | base[4]"},
		{"duplicate", func() error { return e.Duplicate(1) }, "base[0] | math[1] | math[1] | task_arithmetic(docs)[2] λ=0.25 | base[3] | base[4]"},
		{"down", func() error { return e.Move(0, 1) }, "math[1] | base[0] | math[1] | task_arithmetic(docs)[2] λ=0.25 | base[3] | base[4]"},
		{"up", func() error { return e.Move(3, 2) }, "math[1] | base[0] | task_arithmetic(docs)[2] λ=0.25 | math[1] | base[3] | base[4]"},
		{"delete", func() error { return e.Remove(3) }, "math[1] | base[0] | task_arithmetic(docs)[2] λ=0.25 | base[3] | base[4]"},
		{"merge remove the last model", func() error { return e.ToggleMerge(2, "docs") }, "math[1] | base[0] | base[2] | base[3] | base[4]"},
		{"layer", func() error { return e.SetLayer(4, 3, fam) }, "math[1] | base[0] | base[2] | base[3] | base[3]"},
		{"insert after a slot", func() error { e.Select(2); return e.Insert(2, fam) }, "math[1] | base[0] | base[2] | base[3] | base[3] | base[3]"},
	}
	var history []string
	history = append(history, recipes(e.Plan))
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := recipes(e.Plan); got != st.want {
			t.Fatalf("%s:\n got %s\nwant %s", st.name, got, st.want)
		}
		history = append(history, st.want)
	}
	for k := len(history) - 2; k >= 0; k-- {
		if err := e.Undo(); err != nil {
			t.Fatal(err)
		}
		if got := recipes(e.Plan); got != history[k] {
			t.Fatalf("undo to step %d: got %s want %s", k, got, history[k])
		}
	}
	if e.Undo() == nil {
		t.Error("undo with nothing to undo succeeded")
	}
	for k := 1; k < len(history); k++ {
		if err := e.Redo(); err != nil {
			t.Fatal(err)
		}
		if got := recipes(e.Plan); got != history[k] {
			t.Fatalf("redo to step %d: got %s want %s", k, got, history[k])
		}
	}
	// A new edit after undo clears the redo history.
	e.Undo()
	e.Remove(0)
	if e.Redo() == nil {
		t.Error("redo after a new edit succeeded")
	}
}

// The grid's ± and the diagram's shift-drop are one edit: the same plan
// from the same start (λ 1), and the base refused the same way by both.
func TestGridAndDiagramMergeAlike(t *testing.T) {
	grid, diag := NewEditor(demoPlan()), NewEditor(demoPlan())
	if err := grid.ToggleMerge(1, "code"); err != nil {
		t.Fatal(err)
	}
	if err := diag.Drop(1, "code", 1, true); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(grid.Plan)
	b, _ := json.Marshal(diag.Plan)
	if string(a) != string(b) {
		t.Fatalf("grid ± gives %s, the diagram's shift-drop %s", a, b)
	}
	if got := grid.Plan.Slots[1].Describe(); !strings.Contains(got, "task_arithmetic(math+code)[1] λ=1") {
		t.Errorf("merge made: %q", got)
	}
	before := recipes(grid.Plan)
	errGrid := grid.ToggleMerge(0, plan.BaseAlias)
	errDiag := diag.Drop(0, plan.BaseAlias, 0, true)
	if errGrid == nil || errDiag == nil || errGrid.Error() != errDiag.Error() {
		t.Errorf("the base joining a merge: grid %v, diagram %v (want the same refusal)", errGrid, errDiag)
	}
	if recipes(grid.Plan) != before || len(grid.undo) != 1 {
		t.Errorf("a refused edit changed the plan or the history: %s", recipes(grid.Plan))
	}
}

// Refused edits say why and leave everything as it was.
func TestRefusedEdits(t *testing.T) {
	e := NewEditor(demoPlan())
	for name, err := range map[string]error{
		"λ of a take":       e.SetScale(0, 0.5),
		"density of TA":     e.SetDensity(2, 0.5),
		"unknown method":    e.SetMethod(2, "frankenmerge"),
		"move out of range": e.Move(3, 4),
		"layer too high":    e.SetLayer(0, 9, fam),
		"delete missing":    e.Remove(7),
		"t outside 0…1":     func() error { e.SetMethod(2, "ties"); return nil }(),
	} {
		if name != "t outside 0…1" && err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := e.SetDensity(2, 0.3); err != nil {
		t.Errorf("density of ties: %v", err)
	}
	if got := e.Plan.Slots[2].Describe(); !strings.Contains(got, "ties(code+docs)[2]") || !strings.Contains(got, "density=0.3") {
		t.Errorf("ties slot: %q", got)
	}
	if err := e.SetMethod(2, "slerp"); err != nil {
		t.Fatal(err)
	}
	if e.Plan.Slots[2].Merge.T == nil || *e.Plan.Slots[2].Merge.T != 0.5 {
		t.Errorf("slerp starts at t 0.5: %+v", e.Plan.Slots[2].Merge)
	}
	if err := e.SetScale(2, 1.5); err == nil {
		t.Error("t 1.5 accepted")
	}
}
