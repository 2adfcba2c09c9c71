package editor

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// TrialPoint is a search trial as the dashboard shows it.
type TrialPoint struct {
	Index     int
	Budget    int
	Objective float64
	Retention []float64
	Failed    bool
	Plan      *plan.Plan
}

// chart is an SVG plot area with axes, ticks and labels.
type chart struct {
	b                  strings.Builder
	w, h, l, r, t, bot float64
	x0, x1, y0, y1     float64
	id, title, xl, yl  string
	legend             []legendItem
	xTickFmt, yTickFmt func(float64) string
	integerX           bool // trial numbers: whole ticks only
}

type legendItem struct{ label, color, kind string }

func newChart(id, title, xl, yl string, w, h, x0, x1, y0, y1 float64) *chart {
	if x1 <= x0 {
		x1 = x0 + 1
	}
	if y1 <= y0 {
		y1 = y0 + 1
	}
	c := &chart{w: w, h: h, l: 56, r: 16, t: 28, bot: 40, x0: x0, x1: x1, y0: y0, y1: y1, id: id, title: title, xl: xl, yl: yl,
		xTickFmt: plan.Sig3, yTickFmt: plan.Sig3}
	return c
}

func (c *chart) px(x float64) float64 { return c.l + (x-c.x0)/(c.x1-c.x0)*(c.w-c.l-c.r) }
func (c *chart) py(y float64) float64 { return c.h - c.bot - (y-c.y0)/(c.y1-c.y0)*(c.h-c.t-c.bot) }

// ticks are about n round values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func (c *chart) svg(body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" width="%.0f" height="%.0f" font-family="sans-serif" font-size="10"><rect width="100%%" height="100%%" fill="#fcfcfc"/>`, c.id, c.w, c.h)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="12" font-weight="bold">%s</text>`, c.l, html.EscapeString(c.title))
	// Axes, ticks, grid.
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`,
		c.l, c.h-c.bot, c.w-c.r, c.h-c.bot, c.l, c.t, c.l, c.h-c.bot)
	for _, v := range ticks(c.x0, c.x1, 6) {
		if c.integerX && v != math.Trunc(v) {
			continue
		}
		x := c.px(v)
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, c.h-c.bot, x, c.h-c.bot+4, x, c.h-c.bot+15, c.xTickFmt(v))
	}
	for _, v := range ticks(c.y0, c.y1, 5) {
		y := c.py(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			c.l, y, c.w-c.r, y, c.l-4, y, c.l, y, c.l-6, y+3, c.yTickFmt(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="xlabel">%s</text>`, (c.l+c.w-c.r)/2, c.h-6, html.EscapeString(c.xl))
	fmt.Fprintf(&b, `<text x="12" y="%.1f" transform="rotate(-90 12 %.1f)" text-anchor="middle" class="ylabel">%s</text>`, (c.t+c.h-c.bot)/2, (c.t+c.h-c.bot)/2, html.EscapeString(c.yl))
	b.WriteString(body)
	for i, it := range c.legend {
		x, y := c.w-c.r-150, c.t+6+14*float64(i)
		if it.kind == "line" {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x, y, x+12, y, it.color)
		} else {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, x+6, y, it.color)
		}
		fmt.Fprintf(&b, `<text class="legend" x="%.1f" y="%.1f">%s</text>`, x+18, y+3, html.EscapeString(it.label))
	}
	b.WriteString("</svg>")
	return b.String()
}

var budgetColors = []string{"#9ecae1", "#4292c6", "#08519c", "#6a51a3", "#3f007d"}

// ObjectiveChart: each finished trial's objective by trial index, colored
// by budget, with the best so far at the top budget; failures as crosses.
func ObjectiveChart(ts []TrialPoint) string {
	lo, hi, top := math.Inf(1), math.Inf(-1), 0
	budgets := map[int]bool{}
	for _, t := range ts {
		if !t.Failed {
			lo, hi = math.Min(lo, t.Objective), math.Max(hi, t.Objective)
			budgets[t.Budget] = true
			top = max(top, t.Budget)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	pad := (hi - lo) * 0.05
	c := newChart("chart", "Objective per trial", "trial", "objective", 560, 240, 0, float64(max(len(ts)-1, 1)), lo-pad, hi+pad)
	c.yTickFmt = plan.Percent
	c.integerX = true
	var bs []int
	for b := range budgets {
		bs = append(bs, b)
	}
	sort.Ints(bs)
	color := map[int]string{}
	for i, b := range bs {
		color[b] = budgetColors[min(i+max(0, len(budgetColors)-len(bs)), len(budgetColors)-1)]
		c.legend = append(c.legend, legendItem{fmt.Sprintf("budget %d", b), color[b], "dot"})
	}
	var body strings.Builder
	best := math.Inf(-1)
	var path []string
	for _, t := range ts {
		x := c.px(float64(t.Index))
		if t.Failed {
			fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" fill="#cb181d" text-anchor="middle">×<title>trial %d failed</title></text>`, x, c.h-c.bot-3, t.Index)
			continue
		}
		fmt.Fprintf(&body, `<circle class="point" cx="%.1f" cy="%.1f" r="4" fill="%s" data-trial="%d" data-action="open-trial:%d"><title>trial %d, budget %d: %s (click: open it)</title></circle>`,
			x, c.py(t.Objective), color[t.Budget], t.Index, t.Index, t.Index, t.Budget, plan.Percent(t.Objective))
		if t.Budget == top && t.Objective > best {
			if !math.IsInf(best, -1) {
				path = append(path, fmt.Sprintf("%.1f,%.1f", x, c.py(best)))
			}
			best = t.Objective
		}
		if !math.IsInf(best, -1) {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x, c.py(best)))
		}
	}
	if len(path) > 0 {
		fmt.Fprintf(&body, `<polyline class="best" points="%s" fill="none" stroke="#cb181d" stroke-width="1.5" pointer-events="none"/>`, strings.Join(path, " "))
		c.legend = append(c.legend, legendItem{fmt.Sprintf("best so far (budget %d)", top), "#cb181d", "line"})
	}
	return c.svg(body.String())
}

// ParetoChart: two tasks' retention of every finished trial at the top
// budget, the trials no other beats on both in red.
func ParetoChart(ts []TrialPoint, tasks []string, i, j int) string {
	top := 0
	for _, t := range ts {
		if !t.Failed {
			top = max(top, t.Budget)
		}
	}
	var pts []TrialPoint
	for _, t := range ts {
		if !t.Failed && t.Budget == top && len(t.Retention) > max(i, j) {
			pts = append(pts, t)
		}
	}
	if len(pts) == 0 || i >= len(tasks) || j >= len(tasks) {
		return ""
	}
	lx, hx, ly, hy := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		lx, hx = math.Min(lx, p.Retention[i]), math.Max(hx, p.Retention[i])
		ly, hy = math.Min(ly, p.Retention[j]), math.Max(hy, p.Retention[j])
	}
	px, py := (hx-lx)*0.05+1e-3, (hy-ly)*0.05+1e-3
	c := newChart("pareto", fmt.Sprintf("Pareto front at budget %d", top), "retention: "+tasks[i], "retention: "+tasks[j], 420, 240, lx-px, hx+px, ly-py, hy+py)
	c.xTickFmt, c.yTickFmt = plan.Percent, plan.Percent
	c.legend = []legendItem{{"Pareto front", "#cb181d", "dot"}, {"dominated", "#9ecae1", "dot"}}
	var body strings.Builder
	for a, p := range pts {
		dominated := false
		for b, q := range pts {
			if a != b && q.Retention[i] >= p.Retention[i] && q.Retention[j] >= p.Retention[j] && (q.Retention[i] > p.Retention[i] || q.Retention[j] > p.Retention[j]) {
				dominated = true
				break
			}
		}
		col, cls := "#cb181d", "front"
		if dominated {
			col, cls = "#9ecae1", "dominated"
		}
		fmt.Fprintf(&body, `<circle class="%s" cx="%.1f" cy="%.1f" r="4" fill="%s" data-trial="%d" data-action="open-trial:%d"><title>trial %d: %s %s, %s %s (click: open it)</title></circle>`,
			cls, c.px(p.Retention[i]), c.py(p.Retention[j]), col, p.Index, p.Index, p.Index, html.EscapeString(tasks[i]), plan.Percent(p.Retention[i]), html.EscapeString(tasks[j]), plan.Percent(p.Retention[j]))
	}
	return c.svg(body.String())
}

// TrialTable is the trial table sorted by key ("trial", "budget",
// "objective" or a task index "task:N"), descending or not, keeping the
// trials whose text matches filter ("budget=27", "failed", "ok" or a
// minimum objective like ">1.2"), at most limit rows.
func TrialTable(ts []TrialPoint, tasks []string, key string, desc bool, filter string, limit int) string {
	rows, ferr := FilterTrials(ts, tasks, filter)
	value := func(t TrialPoint) float64 {
		switch {
		case key == "trial":
			return float64(t.Index)
		case key == "budget":
			return float64(t.Budget)
		case strings.HasPrefix(key, "task:"):
			k, _ := strconv.Atoi(strings.TrimPrefix(key, "task:"))
			if k < len(t.Retention) {
				return t.Retention[k]
			}
			return math.Inf(-1)
		}
		if t.Failed {
			return math.Inf(-1)
		}
		return t.Objective
	}
	sort.SliceStable(rows, func(a, b int) bool {
		if desc {
			return value(rows[a]) > value(rows[b])
		}
		return value(rows[a]) < value(rows[b])
	})
	var b strings.Builder
	if ferr != nil {
		fmt.Fprintf(&b, `<p class="problem" id="filter-problem">%s — showing every trial</p>`, html.EscapeString(ferr.Error()))
	}
	arrow := func(k string) string {
		if k != key {
			return ""
		}
		if desc {
			return " ▼"
		}
		return " ▲"
	}
	fmt.Fprintf(&b, `<table id="trials"><tr><th data-action="sort:trial">trial%s</th><th data-action="sort:budget">budget%s</th><th data-action="sort:objective">objective%s</th>`, arrow("trial"), arrow("budget"), arrow("objective"))
	for k, t := range tasks {
		fmt.Fprintf(&b, `<th data-action="sort:task:%d">%s%s</th>`, k, html.EscapeString(t), arrow(fmt.Sprintf("task:%d", k)))
	}
	b.WriteString("<th></th></tr>")
	for _, t := range rows[:min(len(rows), limit)] {
		obj := plan.Percent(t.Objective)
		if t.Failed {
			obj = "failed"
		}
		fmt.Fprintf(&b, `<tr class="trial" data-trial="%d"><td>%d</td><td>%d</td><td>%s</td>`, t.Index, t.Index, t.Budget, obj)
		for k := range tasks {
			v := "–"
			if k < len(t.Retention) {
				v = plan.Percent(t.Retention[k])
			}
			fmt.Fprintf(&b, "<td>%s</td>", v)
		}
		fmt.Fprintf(&b, `<td><button data-action="load:%d">load</button> <button data-action="compare:%d">compare</button></td></tr>`, t.Index, t.Index)
	}
	b.WriteString("</table>")
	if len(rows) > limit {
		fmt.Fprintf(&b, `<p class="hint">%d more trials: sort or filter to see them.</p>`, len(rows)-limit)
	}
	return b.String()
}

// FilterTrials keeps the trials a filter matches: "" all, "failed", "ok",
// "budget=N", ">X" (objective above X, e.g. >1.2 or >120%) or "TASK>X"
// (that task's retention above X, e.g. stories>60%). A filter it cannot
// read is an error saying what it reads (and every trial is kept).
func FilterTrials(ts []TrialPoint, tasks []string, filter string) ([]TrialPoint, error) {
	f := strings.TrimSpace(filter)
	task := -1 // the objective
	var threshold float64
	switch {
	case f == "", f == "failed", f == "ok":
	case strings.HasPrefix(f, "budget="):
		if _, err := strconv.Atoi(strings.TrimPrefix(f, "budget=")); err != nil {
			return ts, fmt.Errorf("filter %q: budget=N needs a whole number", filter)
		}
	case strings.Contains(f, ">"):
		name, v, _ := strings.Cut(f, ">")
		if name = strings.TrimSpace(name); name != "" {
			if task = indexOf(tasks, name); task < 0 {
				return ts, fmt.Errorf("filter %q: no task %q (the tasks: %s)", filter, name, strings.Join(tasks, ", "))
			}
		}
		v = strings.TrimSpace(v)
		scale := 1.0
		if strings.HasSuffix(v, "%") {
			v, scale = strings.TrimSuffix(v, "%"), 0.01
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return ts, fmt.Errorf("filter %q: %q is not a number (write e.g. >0.9 or >90%%)", filter, v)
		}
		threshold = x * scale
	default:
		return ts, fmt.Errorf("filter %q: write failed, ok, budget=N, >X or TASK>X (e.g. >90%%, %s>60%%)", filter, strings.Join(tasks, "|"))
	}
	var out []TrialPoint
	for _, t := range ts {
		keep := true
		switch {
		case f == "":
		case f == "failed":
			keep = t.Failed
		case f == "ok":
			keep = !t.Failed
		case strings.HasPrefix(f, "budget="):
			n, _ := strconv.Atoi(strings.TrimPrefix(f, "budget="))
			keep = t.Budget == n
		case task >= 0:
			keep = !t.Failed && task < len(t.Retention) && t.Retention[task] > threshold
		default:
			keep = !t.Failed && t.Objective > threshold
		}
		if keep {
			out = append(out, t)
		}
	}
	return out, nil
}

// SlotDiff is one row of two plans compared slot by slot.
type SlotDiff struct {
	Slot int
	A, B string // recipes ("" where a plan has no such slot)
	Same bool
}

// Diff compares two plans slot by slot.
func Diff(a, b *plan.Plan) []SlotDiff {
	n := max(len(a.Slots), len(b.Slots))
	out := make([]SlotDiff, n)
	for i := range out {
		d := SlotDiff{Slot: i}
		if i < len(a.Slots) {
			d.A = strings.TrimSpace(a.Slots[i].Describe())
		}
		if i < len(b.Slots) {
			d.B = strings.TrimSpace(b.Slots[i].Describe())
		}
		d.Same = d.A == d.B
		out[i] = d
	}
	return out
}

// CompareTable shows two trials side by side: their slots (differences
// marked) and their retention per task.
func CompareTable(a, b TrialPoint, tasks []string) string {
	if a.Plan == nil || b.Plan == nil {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<table id="compare"><tr><th>slot</th><th>trial %d</th><th>trial %d</th></tr>`, a.Index, b.Index)
	for _, d := range Diff(a.Plan, b.Plan) {
		cls := "same"
		if !d.Same {
			cls = "differs"
		}
		fmt.Fprintf(&s, `<tr class="%s"><td>%d</td><td>%s</td><td>%s</td></tr>`, cls, d.Slot, html.EscapeString(d.A), html.EscapeString(d.B))
	}
	for k, t := range tasks {
		va, vb := "–", "–"
		if k < len(a.Retention) {
			va = plan.Percent(a.Retention[k])
		}
		if k < len(b.Retention) {
			vb = plan.Percent(b.Retention[k])
		}
		fmt.Fprintf(&s, `<tr class="task"><td>%s</td><td>%s</td><td>%s</td></tr>`, html.EscapeString(t), va, vb)
	}
	fmt.Fprintf(&s, `<tr class="task"><td>objective</td><td>%s</td><td>%s</td></tr></table>`, plan.Percent(a.Objective), plan.Percent(b.Objective))
	return s.String()
}

// TrialDetail is one trial opened from a chart or the table: its budget,
// objective, retention per task and slots, with load and compare.
func TrialDetail(t TrialPoint, tasks []string) string {
	var b strings.Builder
	obj := plan.Percent(t.Objective)
	if t.Failed {
		obj = "failed"
	}
	fmt.Fprintf(&b, `<div id="trial-detail" data-trial="%d"><h3>Trial %d</h3><p>budget %d samples per task · objective %s`, t.Index, t.Index, t.Budget, obj)
	for k, name := range tasks {
		if k < len(t.Retention) {
			fmt.Fprintf(&b, ` · %s %s`, html.EscapeString(name), plan.Percent(t.Retention[k]))
		}
	}
	b.WriteString("</p>")
	if t.Plan != nil {
		b.WriteString("<ol start=\"0\">")
		for _, s := range t.Plan.Slots {
			fmt.Fprintf(&b, "<li>%s</li>", html.EscapeString(strings.TrimSpace(s.Describe())))
		}
		b.WriteString("</ol>")
		fmt.Fprintf(&b, `<button data-action="load:%d">load into the editor</button> `, t.Index)
	}
	fmt.Fprintf(&b, `<button data-action="compare:%d">compare</button> <button data-action="close-trial">close</button></div>`, t.Index)
	return b.String()
}
