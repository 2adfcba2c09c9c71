package editor

import (
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

func points() []TrialPoint {
	return []TrialPoint{
		{Index: 0, Budget: 3, Objective: 0.9, Retention: []float64{0.8, 1.0}},
		{Index: 1, Budget: 3, Objective: 1.1, Retention: []float64{1.2, 1.0}},
		{Index: 2, Budget: 9, Objective: 1.0, Retention: []float64{0.9, 1.1}},
		{Index: 3, Budget: 9, Failed: true},
		{Index: 4, Budget: 9, Objective: 1.2, Retention: []float64{1.3, 1.1}},
		{Index: 5, Budget: 9, Objective: 0.95, Retention: []float64{1.0, 0.9}},
	}
}

// The charts are XML with axes, ticks, axis labels and legends; the
// objective chart has a point per finished trial and the best so far;
// the Pareto chart marks the trials no other beats on both tasks.
func TestCharts(t *testing.T) {
	svg := ObjectiveChart(points())
	els := elements(t, svg)
	count := func(els []map[string]string, tag, class string) int {
		n := 0
		for _, e := range els {
			if e[""] == tag && e["class"] == class {
				n++
			}
		}
		return n
	}
	if n := count(els, "circle", "point"); n != 5 {
		t.Errorf("%d points, want 5 finished trials", n)
	}
	if count(els, "polyline", "best") != 1 || count(els, "line", "tick") < 6 {
		t.Error("no best-so-far line or too few ticks")
	}
	for _, w := range []string{">trial<", ">objective<", "budget 3", "budget 9", "best so far (budget 9)", "trial 3 failed"} {
		if !strings.Contains(svg, w) {
			t.Errorf("objective chart lacks %q", w)
		}
	}
	p := ParetoChart(points(), []string{"a", "b"}, 0, 1)
	pe := elements(t, p)
	// At budget 9: (0.9,1.1), (1.3,1.1), (1.0,0.9) — only trial 4 is on the front.
	if count(pe, "circle", "front") != 1 || count(pe, "circle", "dominated") != 2 {
		t.Errorf("front %d, dominated %d", count(pe, "circle", "front"), count(pe, "circle", "dominated"))
	}
	if !strings.Contains(p, "retention: a") || !strings.Contains(p, "Pareto front") {
		t.Error("Pareto chart lacks its labels or legend")
	}
	if got := ticks(0, 1, 5); len(got) != 6 || got[1] != 0.2 {
		t.Errorf("ticks(0,1,5) = %v", got)
	}
}

// The trial table sorts by any column both ways and filters.
func TestTrialTable(t *testing.T) {
	tab := TrialTable(points(), []string{"a", "b"}, "objective", true, "", 50)
	first := strings.Index(tab, `data-trial="4"`)
	if first < 0 || first > strings.Index(tab, `data-trial="1"`) {
		t.Error("sorted by objective, trial 4 is not first")
	}
	tab = TrialTable(points(), []string{"a", "b"}, "task:1", false, "budget=9", 50)
	if strings.Contains(tab, `data-trial="0"`) || !strings.Contains(tab, "▲") {
		t.Error("budget filter or sort arrow")
	}
	for f, want := range map[string]int{"": 6, "failed": 1, "ok": 5, "budget=3": 2, ">1.05": 2, ">100%": 2} {
		got, err := FilterTrials(points(), []string{"a", "b"}, f)
		if err != nil || len(got) != want {
			t.Errorf("filter %q: %d trials (%v), want %d", f, len(got), err, want)
		}
	}
	// A task's retention, and filters it cannot read said as such (they
	// used to keep every trial silently).
	pts := points()
	want := 0
	for _, p := range pts {
		if !p.Failed && len(p.Retention) > 1 && p.Retention[1] > 1 {
			want++
		}
	}
	if got, err := FilterTrials(pts, []string{"a", "b"}, "b>100%"); err != nil || len(got) != want || want == 0 || want == 5 {
		t.Errorf("b>100%%: %d trials (%v), want %d", len(got), err, want)
	}
	for _, f := range []string{"nonsense", "stories>60%", "budget=x", ">lots"} {
		if _, err := FilterTrials(pts, []string{"a", "b"}, f); err == nil {
			t.Errorf("filter %q accepted", f)
		}
	}
	if tab := TrialTable(pts, []string{"a", "b"}, "trial", false, "nonsense", 50); !strings.Contains(tab, `id="filter-problem"`) {
		t.Error("an unreadable filter is not said in the table")
	}
	if tab := TrialTable(points(), nil, "trial", false, "", 2); !strings.Contains(tab, "4 more trials") {
		t.Error("limit not said")
	}
}

// Two plans compared slot by slot, differences marked, retention side by
// side.
func TestCompare(t *testing.T) {
	a, b := demoPlan(), demoPlan()
	b.Slots[1] = plan.Slot{Take: &plan.Take{Model: "code", Layer: 1}}
	b.Slots = b.Slots[:3]
	d := Diff(a, b)
	if len(d) != 4 || d[0].Same != true || d[1].Same || d[3].B != "" {
		t.Fatalf("diff %+v", d)
	}
	ta := TrialPoint{Index: 1, Plan: a, Retention: []float64{1, 0.5}, Objective: 0.75}
	tb := TrialPoint{Index: 2, Plan: b, Retention: []float64{0.9, 0.8}, Objective: 0.85}
	html := CompareTable(ta, tb, []string{"x", "y"})
	elements(t, "<div>"+html+"</div>")
	if strings.Count(html, `class="differs"`) != 2 || !strings.Contains(html, "<td>math[1]</td><td>code[1]</td>") || !strings.Contains(html, "<td>85%</td>") {
		t.Errorf("compare table:\n%s", html)
	}
}

// The panel of a merge slot has the method, λ, density (TIES) and a weight
// per model; SetWeight fills the others with 1 and refuses bad targets.
func TestSlotPanelAndWeights(t *testing.T) {
	p := demoPlan()
	p.Slots[2].Merge.Method = "ties"
	html := SlotPanel(p, fam, 2)
	for _, w := range []string{`data-action="method:2"`, `<option selected="selected">ties</option>`, `data-action="lambda:2"`, `data-action="density:2"`, `data-action="weight:2:0"`, `data-action="weight:2:1"`, "weight of docs"} {
		if !strings.Contains(html, w) {
			t.Errorf("panel lacks %q", w)
		}
	}
	if strings.Contains(SlotPanel(p, fam, 0), "method") {
		t.Error("a take slot shows merge controls")
	}
	if err := SetWeight(p, 2, 1, 0.3); err != nil || len(p.Slots[2].Merge.Weights) != 2 || p.Slots[2].Merge.Weights[0] != 1 || p.Slots[2].Merge.Weights[1] != 0.3 {
		t.Errorf("SetWeight: %v %v", err, p.Slots[2].Merge.Weights)
	}
	if err := plan.Validate(p, fam); err != nil {
		t.Errorf("weighted plan: %v", err)
	}
	for _, c := range [][2]int{{0, 0}, {2, 5}, {9, 0}} {
		if err := SetWeight(p, c[0], c[1], 1); err == nil {
			t.Errorf("SetWeight(%v) accepted", c)
		}
	}
}

// Retention bars: a bar per row and task; parallel coordinates: a line
// per top-budget trial with a plan.
func TestBarsAndParallel(t *testing.T) {
	bars := RetentionBars([]Row{{"winner", []float64{0.7, 1.1}}, {"dense base", []float64{1, 1}}}, []string{"a", "b"})
	if n := strings.Count(bars, `class="rbar"`); n != 4 {
		t.Errorf("%d bars, want 4", n)
	}
	elements(t, bars)
	ts := points()
	for i := range ts {
		if !ts[i].Failed {
			ts[i].Plan = demoPlan()
		}
	}
	pc := ParallelCoordinates(ts, fam)
	elements(t, pc)
	if n := strings.Count(pc, `class="gene"`); n != 3 { // trials 2, 4, 5 at budget 9
		t.Errorf("%d lines, want 3", n)
	}
	if !strings.Contains(pc, ">removed<") || !strings.Contains(pc, ">math<") {
		t.Error("gene axis labels missing")
	}
}
