package search

import (
	"github.com/gptailor/gptailor/native/atomicfile"

	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
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
	Objective float64 // the "mean" column: the objective's (weighted) mean
}

// KindSearch marks the winner's row: the plan best-plan.json holds.
const KindSearch = "search"

// Report writes a run's summary: report.md, objective.svg (objective
// against trials with the best so far), pareto.svg (the first two tasks'
// retention at the top budget), best-plan.json and pareto.json.
// tasks names the comparison rows' columns; objectives names the trials'
// retention entries (the same tasks, or one scorer).
func Report(dir string, tasks, objectives []string, trials []Trial, rows []Comparison) error {
	if err := atomicfile.Write(filepath.Join(dir, "objective.svg"), []byte(objectiveSVG(trials)), 0o644); err != nil {
		return err
	}
	top := 0
	for _, t := range trials {
		if t.Error == "" && t.Budget > top {
			top = t.Budget
		}
	}
	var atTop []Trial
	var costs [][]float64
	for _, t := range trials {
		if t.Error == "" && t.Budget == top {
			atTop = append(atTop, t)
			costs = append(costs, t.Costs)
		}
	}
	front := ParetoFront(costs)
	var pareto []Trial
	for _, i := range front {
		pareto = append(pareto, atTop[i])
	}
	b, _ := json.MarshalIndent(pareto, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, "pareto.json"), b, 0o644); err != nil {
		return err
	}
	twoD := len(objectives) >= 2
	for _, t := range atTop {
		twoD = twoD && len(t.Retention) >= 2
	}
	if twoD {
		if err := atomicfile.Write(filepath.Join(dir, "pareto.svg"), []byte(paretoSVG(objectives, atTop, front)), 0o644); err != nil {
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
	fmt.Fprintf(&md, "# Search report\n\n%d trials (%d failed); top budget %d samples per task.\n\n", len(trials), failed, top)
	md.WriteString("![objective](objective.svg)\n\n")
	if twoD {
		md.WriteString("![pareto](pareto.svg)\n\n")
	}
	md.WriteString("## Retention per task\n\n| plan | " + strings.Join(tasks, " | ") + " | mean |\n|---|" + strings.Repeat("---|", len(tasks)+1) + "\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s |", r.Name)
		for _, v := range r.Retention {
			fmt.Fprintf(&md, " %.1f%% |", 100*v)
		}
		fmt.Fprintf(&md, " %.1f%% |\n", 100*r.Objective)
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
	fmt.Fprintf(&md, "\n## Pareto front at budget %d (%d plans)\n\n| trial | %s |\n|---|%s\n", top, len(pareto), strings.Join(objectives, " | "), strings.Repeat("---|", len(objectives)))
	for _, t := range pareto {
		fmt.Fprintf(&md, "| %d |", t.Index)
		for _, v := range t.Retention {
			fmt.Fprintf(&md, " %.1f%% |", 100*v)
		}
		md.WriteString("\n")
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

const svgW, svgH, pad = 640.0, 360.0, 48.0

func axes(b *strings.Builder, title, xl, yl string, x0, x1, y0, y1 float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", svgW, svgH)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="18" font-size="14">%s</text>`+"\n", pad, esc(title))
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n",
		pad, svgH-pad, svgW-pad/2, svgH-pad, pad, pad/1.5, pad, svgH-pad)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text><text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`+"\n",
		svgW/2, svgH-10, esc(xl), svgH/2, svgH/2, esc(yl))
	for i := 0; i <= 4; i++ {
		y := y0 + (y1-y0)*float64(i)/4
		py := svgH - pad - (svgH-pad-pad/1.5)*float64(i)/4
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end">%.3g</text>`+"\n", pad-4, py+4, y)
		x := x0 + (x1-x0)*float64(i)/4
		px := pad + (svgW-1.5*pad)*float64(i)/4
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">%.3g</text>`+"\n", px, svgH-pad+14, x)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func scale(v, lo, hi, plo, phi float64) float64 {
	if hi == lo {
		return (plo + phi) / 2
	}
	return plo + (v-lo)/(hi-lo)*(phi-plo)
}

func objectiveSVG(trials []Trial) string {
	var b strings.Builder
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range trials {
		if t.Error == "" {
			lo, hi = math.Min(lo, t.Objective), math.Max(hi, t.Objective)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	n := float64(max(len(trials)-1, 1))
	axes(&b, "Mean retention per trial (dots: by budget; line: best so far at the top budget)", "trial", "mean retention", 0, n, lo, hi)
	top := 0
	budgets := map[int]bool{}
	for _, t := range trials {
		budgets[t.Budget] = true
		if t.Budget > top {
			top = t.Budget
		}
	}
	var bs []int
	for k := range budgets {
		bs = append(bs, k)
	}
	sort.Ints(bs)
	colors := []string{"#9ecae1", "#4292c6", "#08519c", "#6a51a3", "#cb181d"}
	color := map[int]string{}
	for i, k := range bs {
		color[k] = colors[min(i+max(0, len(colors)-len(bs)), len(colors)-1)]
	}
	best := math.Inf(-1)
	var path []string
	for _, t := range trials {
		x := scale(float64(t.Index), 0, n, pad, svgW-pad/2)
		if t.Error != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#cb181d" text-anchor="middle">×</text>`+"\n", x, svgH-pad-4)
			continue
		}
		y := scale(t.Objective, lo, hi, svgH-pad, pad/1.5)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>trial %d, budget %d: %.4f</title></circle>`+"\n", x, y, color[t.Budget], t.Index, t.Budget, t.Objective)
		if t.Budget == top && t.Objective > best {
			if !math.IsInf(best, -1) { // a step: along at the old best, then up
				path = append(path, fmt.Sprintf("%.1f,%.1f", x, scale(best, lo, hi, svgH-pad, pad/1.5)))
			}
			best = t.Objective
		}
		if !math.IsInf(best, -1) {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x, scale(best, lo, hi, svgH-pad, pad/1.5)))
		}
	}
	if len(path) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#cb181d" stroke-width="1.5"/>`+"\n", strings.Join(path, " "))
	}
	for i, k := range bs {
		fmt.Fprintf(&b, `<circle cx="%.0f" cy="%.0f" r="3" fill="%s"/><text x="%.0f" y="%.0f">budget %d</text>`+"\n", svgW-130, 40+14*float64(i), color[k], svgW-122, 44+14*float64(i), k)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func paretoSVG(tasks []string, ts []Trial, front []int) string {
	var b strings.Builder
	lx, hx, ly, hy := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, t := range ts {
		lx, hx = math.Min(lx, t.Retention[0]), math.Max(hx, t.Retention[0])
		ly, hy = math.Min(ly, t.Retention[1]), math.Max(hy, t.Retention[1])
	}
	axes(&b, "Retention at the top budget (red: Pareto front over all tasks)", "retention: "+tasks[0], "retention: "+tasks[1], lx, hx, ly, hy)
	on := map[int]bool{}
	for _, i := range front {
		on[i] = true
	}
	for i, t := range ts {
		c := "#9ecae1"
		if on[i] {
			c = "#cb181d"
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>trial %d</title></circle>`+"\n",
			scale(t.Retention[0], lx, hx, pad, svgW-pad/2), scale(t.Retention[1], ly, hy, svgH-pad, pad/1.5), c, t.Index)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
