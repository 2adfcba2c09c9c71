package search

import (
	"github.com/gptailor/gptailor/native/atomicfile"

	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// Comparison is a row of the report: the search's winner (Kind "search")
// or a plan beside it.
type Comparison struct {
	Kind      string // "search", or the baseline's kind
	Name      string
	Plan      *plan.Plan
	Retention []float64
	Objective float64      // the objective column
	CI        [][2]float64 // per task: a 95 % interval of Retention (optional)
}

// KindSearch marks the winner's row: the plan best-plan.json holds.
const KindSearch = "search"

// ReportInput is what a run's report says.
type ReportInput struct {
	Tasks      []string // the comparison rows' columns
	Objectives []string // the trials' retention entries (the same tasks, or one scorer)
	Objective  string   // what the search maximised, in words
	Trials     []Trial
	Rows       []Comparison
	// HeldOut are rows scored on tasks the search never saw (HeldOutTasks),
	// in the order of Rows and then the Pareto set's.
	HeldOutTasks []string
	HeldOut      []Comparison
	// Notes are said under their own heading (e.g. tasks whose reference
	// scored 0, where retention is defined as 100 %).
	Notes []string
	// Weights names the weights every evaluation scored (e.g. "q4_0: as a
	// Q4_0 GGUF file stores them"); every table's heading repeats it.
	// Empty: full precision, not said.
	Weights string
}

// Report writes a run's summary: report.md, objective.svg (objective per
// trial with the best so far), pareto.svg (the first two objectives at the
// top budget), retention.svg (the rows per task), fidelity.svg (objective
// at consecutive budgets), best-plan.json (the winner's plan, by kind) and
// pareto.json. Numbers are printed to 3 significant digits.
func Report(dir string, in ReportInput) error {
	trials, rows, objectives := in.Trials, in.Rows, in.Objectives
	write := func(name string, b []byte, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return atomicfile.Write(filepath.Join(dir, name), b, 0o644)
	}
	b, err := objectiveChart(trials, in.Objective)
	if err := write("objective.svg", b, err); err != nil {
		return err
	}
	top, atTop, front := ParetoSet(trials)
	var pareto []Trial
	for _, i := range front {
		pareto = append(pareto, atTop[i])
	}
	pj, _ := json.MarshalIndent(pareto, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, "pareto.json"), pj, 0o644); err != nil {
		return err
	}
	twoD := len(objectives) >= 2 && len(atTop) > 0
	for _, t := range atTop {
		twoD = twoD && len(t.Retention) >= 2
	}
	if twoD {
		b, err := paretoChart(objectives, atTop, front)
		if err := write("pareto.svg", b, err); err != nil {
			return err
		}
	}
	haveRows := len(rows) > 0
	if haveRows {
		b, err := retentionChart(in.Tasks, rows)
		if err := write("retention.svg", b, err); err != nil {
			return err
		}
	}
	corr := RankCorrelations(trials)
	if len(corr) > 0 {
		b, err := fidelityChart(trials)
		if err := write("fidelity.svg", b, err); err != nil {
			return err
		}
	}
	var md strings.Builder
	failed := 0
	for _, t := range trials {
		if t.Error != "" {
			failed++
		}
	}
	fmt.Fprintf(&md, "# Search report\n\n%d trials (%d failed); top budget %d samples per task; objective: %s.\n\n", len(trials), failed, top, in.Objective)
	wq := ""
	if in.Weights != "" {
		fmt.Fprintf(&md, "Weights: %s.\n\n", in.Weights)
		wq = " (weights " + strings.SplitN(in.Weights, ":", 2)[0] + ")"
	}
	md.WriteString("![objective](objective.svg)\n\n")
	if twoD {
		md.WriteString("![pareto](pareto.svg)\n\n")
	}
	if haveRows {
		md.WriteString("## Retention per task" + wq + "\n\n![retention](retention.svg)\n\nIn brackets: 95 % bootstrap intervals over the task's samples.\n\n| plan | " + strings.Join(in.Tasks, " | ") + " | objective |\n|---|" + strings.Repeat("---|", len(in.Tasks)+1) + "\n")
		for _, r := range rows {
			fmt.Fprintf(&md, "| %s |", r.Name)
			for i, v := range r.Retention {
				fmt.Fprintf(&md, " %s%s |", plan.Percent(v), interval(r.CI, i))
			}
			fmt.Fprintf(&md, " %s |\n", plan.Percent(r.Objective))
		}
	}
	if len(in.HeldOut) > 0 {
		search := map[string]float64{}
		for _, r := range rows {
			search[r.Name] = r.Objective
		}
		md.WriteString("\n## Held-out tasks" + wq + "\n\nScored after the search on tasks it never saw, with the same objective: a plan that shines on the search tasks and not here was fitted to them.\n\n| plan | objective on the search tasks | " + strings.Join(in.HeldOutTasks, " | ") + " | held-out objective |\n|---|---|" + strings.Repeat("---|", len(in.HeldOutTasks)+1) + "\n")
		for _, r := range in.HeldOut {
			so := "–"
			if v, ok := search[r.Name]; ok {
				so = plan.Percent(v)
			}
			fmt.Fprintf(&md, "| %s | %s |", r.Name, so)
			for _, v := range r.Retention {
				fmt.Fprintf(&md, " %s |", plan.Percent(v))
			}
			fmt.Fprintf(&md, " %s |\n", plan.Percent(r.Objective))
		}
	}
	if len(corr) > 0 {
		md.WriteString("\n## Do cheap budgets predict expensive ones?" + wq + "\n\nRank correlation of the objective between budgets, over the configurations evaluated at both (near 1: Hyperband's early stops are sound; near 0: it discards on noise).\n\n![fidelity](fidelity.svg)\n\n| budgets | configurations | Spearman | Kendall |\n|---|---|---|---|\n")
		for _, c := range corr {
			fmt.Fprintf(&md, "| %d → %d | %d | %s | %s |\n", c.Low, c.High, c.N, plan.Sig3(c.Spearman), plan.Sig3(c.Kendall))
		}
	}
	var win *plan.Plan
	for _, r := range rows {
		if r.Kind == KindSearch && win == nil {
			win = r.Plan
		}
	}
	if win != nil {
		md.WriteString("\n## Winning plan\n\n| slot | recipe |\n|---|---|\n")
		for i, s := range win.Slots {
			fmt.Fprintf(&md, "| %d | %s |\n", i, strings.TrimSpace(s.Describe()))
		}
		pj, _ := plan.Marshal(win)
		if err := atomicfile.Write(filepath.Join(dir, "best-plan.json"), append(pj, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(&md, "\n## Pareto front at budget %d (%d plans)%s\n\n| trial | %s |\n|---|%s\n", top, len(pareto), wq, strings.Join(objectives, " | "), strings.Repeat("---|", len(objectives)))
	for _, t := range pareto {
		fmt.Fprintf(&md, "| %d |", t.Index)
		for _, v := range t.Retention {
			fmt.Fprintf(&md, " %s |", plan.Percent(v))
		}
		md.WriteString("\n")
	}
	if len(in.Notes) > 0 {
		md.WriteString("\n## Notes\n\n")
		for _, n := range in.Notes {
			fmt.Fprintf(&md, "- %s\n", n)
		}
	}
	if failed > 0 {
		md.WriteString("\n## Failed trials\n\n")
		for _, t := range trials {
			if t.Error != "" {
				fmt.Fprintf(&md, "- trial %d: %s\n", t.Index, t.Error)
			}
		}
	}
	return atomicfile.Write(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644)
}

// interval prints the i-th interval, if any, as " [lo–hi]".
func interval(ci [][2]float64, i int) string {
	if i >= len(ci) || math.IsNaN(ci[i][0]) {
		return ""
	}
	return " [" + plan.Percent(ci[i][0]) + "–" + plan.Percent(ci[i][1]) + "]"
}

// ParetoSet is the top budget with a finished trial, its finished trials
// and the indices (into them) of the Pareto front over their costs.
func ParetoSet(trials []Trial) (top int, atTop []Trial, front []int) {
	for _, t := range trials {
		if t.Error == "" && t.Budget > top {
			top = t.Budget
		}
	}
	var costs [][]float64
	for _, t := range trials {
		if t.Error == "" && t.Budget == top {
			atTop = append(atTop, t)
			costs = append(costs, t.Costs)
		}
	}
	return top, atTop, ParetoFront(costs)
}
