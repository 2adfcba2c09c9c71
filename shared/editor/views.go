package editor

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Views is the page as the app's state draws it: element id → its inner
// HTML ("status" and "task-list" are text). The glue replaces only the
// elements whose HTML changed.
func (a *App) Views() map[string]string {
	v := map[string]string{
		"status":    a.Status,
		"notices":   a.noticesView(),
		"statusbar": a.statusBar(),
	}
	if a.Family.Layers == 0 {
		return v
	}
	fam := a.Fam()
	v["plan"] = Grid(a.Ed.Plan, fam, a.Ed.Selected)
	v["info"] = Info(a.Ed.Plan, fam)
	v["diagram"] = Diagram(a.Ed.Plan, fam, a.Diag, a.Ed.Selected)
	v["slot-panel"] = SlotPanel(a.Ed.Plan, fam, a.Ed.Selected)
	v["eval"] = a.shown(a.eval)
	v["export"] = ""
	if a.export != nil {
		v["export"] = a.staleNote(a.export) + html.EscapeString(a.export.html)
	}
	v["search"] = a.dashboard() + a.resultsView() + a.workersView()
	v["task-list"] = a.taskList()
	return v
}

// shown is a computed result, greyed with the reason when it is stale.
func (a *App) shown(c *computed) string {
	if c == nil {
		return ""
	}
	if why := a.stale(c); why != "" {
		return a.staleNote(c) + `<div class="stale" title="` + html.EscapeString(why) + `">` + c.html + `</div>`
	}
	return `<div class="current">` + c.html + `</div>`
}

func (a *App) staleNote(c *computed) string {
	if why := a.stale(c); why != "" {
		return `<p class="stale-note">` + html.EscapeString(why) + `</p>`
	}
	return ""
}

func (a *App) noticesView() string {
	var b strings.Builder
	for _, n := range a.Notices {
		cls := "notice"
		if n.Error {
			cls += " error"
		}
		fmt.Fprintf(&b, `<div class="%s" role="alert" data-notice="%d"><span>%s</span><button data-action="dismiss:%d" title="dismiss">×</button></div>`,
			cls, n.ID, html.EscapeString(n.Text), n.ID)
	}
	return b.String()
}

// statusBar says the connection, the run the dashboard shows and the
// scorer the server applies (with a way to stop using it).
func (a *App) statusBar() string {
	var b strings.Builder
	conn, cls := "disconnected", "bad"
	if a.Connected {
		conn, cls = "connected", "ok"
	}
	fmt.Fprintf(&b, `<span id="conn" class="%s">%s</span>`, cls, conn)
	run := "no run"
	if a.Run != "" {
		run = "run " + a.Run
	}
	fmt.Fprintf(&b, ` · <span id="current-run">%s</span>`, html.EscapeString(run))
	if a.Scorer != "" {
		fmt.Fprintf(&b, ` · <span id="scorer-in-use">scorer %s</span> <button data-action="no-scorer" id="no-scorer">stop using it</button>`, html.EscapeString(a.Scorer))
	} else {
		b.WriteString(` · <span id="scorer-in-use">no scorer: judged by the tasks</span>`)
	}
	return b.String()
}

// evalTable is an evaluation: per task its metric, the plan's and the
// reference's value and the retention; then the objective and the
// scorer's score.
func evalTable(r protocol.EvaluateResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<table id="eval-table"><caption>evaluated on %d samples per task</caption><tr><th>task</th><th>metric</th><th>plan</th><th>reference</th><th>retention</th><th></th></tr>`, r.Samples)
	for _, t := range r.Tasks {
		w := math.Max(0, math.Min(200, 100*t.Retention))
		fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td>%.4f</td><td>%.4f</td><td class="ret" data-task="%s">%.1f%%</td><td><div class="bar" style="width:%.0fpx"></div></td></tr>`,
			html.EscapeString(t.Name), t.Primary, t.Metrics[t.Primary], t.Reference[t.Primary], html.EscapeString(t.Name), 100*t.Retention, w)
	}
	fmt.Fprintf(&b, `</table><p>%s <b id="mean">%.1f%%</b>`, html.EscapeString(r.ObjectiveName), 100*r.Objective)
	if r.Score != nil {
		fmt.Fprintf(&b, ` · scorer <b id="score">%.6g</b>`, *r.Score)
	}
	if r.ScoreErr != "" {
		fmt.Fprintf(&b, ` · scorer failed: %s`, html.EscapeString(r.ScoreErr))
	}
	b.WriteString("</p>")
	return b.String()
}

// taskList says which tasks (and weights) the server's searches use.
func (a *App) taskList() string {
	var parts []string
	for i, t := range a.Family.Tasks {
		w := 1.0
		if i < len(a.Family.TaskWeights) {
			w = a.Family.TaskWeights[i]
		}
		parts = append(parts, fmt.Sprintf("%s ×%s", t, strconv.FormatFloat(w, 'g', 3, 64)))
	}
	if len(parts) == 0 {
		return "no tasks: start the server with --tasks to search"
	}
	return "tasks (from serve --tasks, with their weights): " + strings.Join(parts, " · ")
}

// dashboard is the runs list, then the shown run's charts: the objective
// per trial, the Pareto front for any two tasks, the genes, the trial
// table (sortable, filterable) and two trials compared.
func (a *App) dashboard() string {
	var b strings.Builder
	b.WriteString(a.runsView())
	if len(a.Trials) == 0 {
		return b.String()
	}
	b.WriteString(`<div class="charts">`)
	b.WriteString(ObjectiveChart(a.Trials))
	if len(a.Family.Tasks) >= 2 {
		b.WriteString(`<div>`)
		b.WriteString(a.taskSelect("pareto-x", a.paretoX) + " vs " + a.taskSelect("pareto-y", a.paretoY))
		b.WriteString(ParetoChart(a.Trials, a.Family.Tasks, a.paretoX, a.paretoY))
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	for _, t := range a.Trials {
		if t.Index == a.openTrial {
			b.WriteString(TrialDetail(t, a.Family.Tasks))
		}
	}
	b.WriteString(ParallelCoordinates(a.Trials, a.Fam()))
	fmt.Fprintf(&b, `<div class="toolbar">filter <input id="trial-filter" data-action="filter" value="%s" placeholder="budget=27, ok, failed, >90%%, TASK>60%%"> <span class="hint">click a column to sort; "compare" two trials</span></div>`, html.EscapeString(a.filter))
	cols := a.Family.Tasks
	for _, t := range a.Trials {
		if !t.Failed && len(t.Retention) != len(cols) { // a scorer's search: one score per trial
			cols = []string{"score"}
			break
		}
	}
	b.WriteString(TrialTable(a.Trials, cols, a.sortKey, a.sortDesc, a.filter, 60))
	if len(a.compare) == 2 {
		var x, y *TrialPoint
		for i := range a.Trials {
			if a.Trials[i].Index == a.compare[0] {
				x = &a.Trials[i]
			}
			if a.Trials[i].Index == a.compare[1] {
				y = &a.Trials[i]
			}
		}
		if x != nil && y != nil {
			b.WriteString("<h3>Compared</h3>" + CompareTable(*x, *y, cols))
		}
	}
	return b.String()
}

func (a *App) taskSelect(action string, cur int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<select id="%s" data-action="%s">`, action, action)
	for i, t := range a.Family.Tasks {
		sel := ""
		if i == cur {
			sel = " selected"
		}
		fmt.Fprintf(&b, `<option value="%d"%s>%s</option>`, i, sel, html.EscapeString(t))
	}
	b.WriteString("</select>")
	return b.String()
}

// runsView lists the server's run directories: open one (its trials and
// table) or resume it.
func (a *App) runsView() string {
	if len(a.Runs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="runs"><tr><th>run</th><th>trials</th><th>best</th><th>objective</th><th>space</th><th></th></tr>`)
	for _, r := range a.Runs {
		state := ""
		switch {
		case r.Running:
			state = " (running)"
		case r.Finished:
			state = " (finished)"
		}
		fmt.Fprintf(&b, `<tr data-run="%s"><td>%s%s</td><td>%d / %d</td><td>%s</td><td>%s</td><td>%s</td><td><button data-action="open-run:%s">open</button> <button data-action="resume-run:%s">resume</button></td></tr>`,
			html.EscapeString(r.Name), html.EscapeString(r.Name), state, r.Trials, r.Target, plan.Percent(r.Best), html.EscapeString(r.Objective), html.EscapeString(r.Space), html.EscapeString(r.Name), html.EscapeString(r.Name))
	}
	b.WriteString("</table>")
	return b.String()
}

// resultsView is the finished search's table: the winner, then the
// baselines, retention per task and the objective.
func (a *App) resultsView() string {
	if len(a.Results) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="results" class="results"><tr><th>plan</th>`)
	for _, t := range a.Family.Tasks {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(t))
	}
	b.WriteString("<th>objective</th></tr>")
	var bars []Row
	for _, r := range a.Results {
		fmt.Fprintf(&b, `<tr data-kind="%s"><td>%s</td>`, html.EscapeString(r.Kind), html.EscapeString(r.Name))
		for _, v := range r.Retention {
			fmt.Fprintf(&b, "<td>%.1f%%</td>", 100*v)
		}
		fmt.Fprintf(&b, "<td>%.1f%%</td></tr>", 100*r.Objective)
		bars = append(bars, Row{Name: r.Name, Retention: r.Retention})
	}
	b.WriteString("</table>")
	b.WriteString(RetentionBars(bars, a.Family.Tasks))
	return b.String()
}

// workersView lists the evaluation workers: busy or idle, the trial in
// hand, the last heartbeat.
func (a *App) workersView() string {
	if len(a.Workers) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="workers"><tr><th>worker</th><th>state</th><th>trial</th><th>threads</th><th>jobs done</th><th>last heard</th></tr>`)
	for _, w := range a.Workers {
		state, trial := "idle", "–"
		if w.Busy {
			state, trial = "busy", strconv.Itoa(w.Trial)
		}
		if w.Foreign {
			state = "other family (refuses)"
		}
		fmt.Fprintf(&b, `<tr data-worker="%s"><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%.1f s ago</td></tr>`,
			html.EscapeString(w.Name), html.EscapeString(w.Name), state, trial, w.Threads, w.Done, float64(w.AgoMS)/1000)
	}
	b.WriteString("</table>")
	return b.String()
}
