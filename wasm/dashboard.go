//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/editor"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// searchForm is search.start's payload from the form: the RunRequest the
// CLI's search flags bind to; resume continues run name with its stored
// settings.
func searchForm(resume bool, name string) protocol.RunRequest {
	if resume {
		return protocol.RunRequest{Run: name, Resume: true}
	}
	val := func(id string) string { return strings.TrimSpace(el(id).Get("value").String()) }
	num := func(id string) float64 { f, _ := strconv.ParseFloat(val(id), 64); return f }
	trialTarget = int(num("trial-budget"))
	req := protocol.RunRequest{Run: val("run-name"), Remove: int(num("remove")), Trials: &trialTarget, Optimizer: val("optimizer"),
		Space: val("space"), Reference: val("reference"), Aggregate: val("aggregate"),
		MinSamples: int(num("min-budget")), MaxSamples: int(num("max-budget")), Eta: num("eta"),
		Seed: uint64(num("seed")), Batch: int(num("batch")), ParamBudget: num("param-budget"),
		Granularity: val("granularity"), Repair: val("repair"), Quant: val("quant"), Weights: el("search-weights").Get("checked").Bool()}
	for _, x := range strings.Split(val("methods"), ",") {
		if x = strings.TrimSpace(x); x != "" {
			req.Methods = append(req.Methods, x)
		}
	}
	return req
}

// taskList says which tasks (and weights) the server's searches use.
func taskList() string {
	var parts []string
	for i, t := range family.Tasks {
		w := 1.0
		if i < len(family.TaskWeights) {
			w = family.TaskWeights[i]
		}
		parts = append(parts, fmt.Sprintf("%s ×%s", t, strconv.FormatFloat(w, 'g', 3, 64)))
	}
	if len(parts) == 0 {
		return "no tasks: start the server with --tasks to search"
	}
	return "tasks (from serve --tasks, with their weights): " + strings.Join(parts, " · ")
}

// renderSearch is the dashboard: the objective per trial, the Pareto
// front for any two tasks, the trial table (sortable, filterable) and two
// trials compared.
func renderSearch() string {
	var b strings.Builder
	b.WriteString(renderRuns())
	if len(trials) == 0 {
		return b.String()
	}
	b.WriteString(`<div class="charts">`)
	b.WriteString(editor.ObjectiveChart(trials))
	if len(family.Tasks) >= 2 {
		b.WriteString(`<div>`)
		b.WriteString(taskSelect("pareto-x", paretoX) + " vs " + taskSelect("pareto-y", paretoY))
		b.WriteString(editor.ParetoChart(trials, family.Tasks, paretoX, paretoY))
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	b.WriteString(editor.ParallelCoordinates(trials, famInfo()))
	fmt.Fprintf(&b, `<div class="toolbar">filter <input id="trial-filter" data-action="filter" value="%s" placeholder="budget=27, ok, failed, >120%%"> <span class="hint">click a column to sort; "compare" two trials</span></div>`, html.EscapeString(trialFilter))
	cols := family.Tasks
	for _, t := range trials {
		if !t.Failed && len(t.Retention) != len(cols) { // a scorer's search: one score per trial
			cols = []string{"score"}
			break
		}
	}
	b.WriteString(editor.TrialTable(trials, cols, sortKey, sortDesc, trialFilter, 60))
	if len(comparePick) == 2 {
		var a, c *editor.TrialPoint
		for i := range trials {
			if trials[i].Index == comparePick[0] {
				a = &trials[i]
			}
			if trials[i].Index == comparePick[1] {
				c = &trials[i]
			}
		}
		if a != nil && c != nil {
			b.WriteString("<h3>Compared</h3>" + editor.CompareTable(*a, *c, cols))
		}
	}
	return b.String()
}

func taskSelect(action string, cur int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<select id="%s" data-action="%s">`, action, action)
	for i, t := range family.Tasks {
		sel := ""
		if i == cur {
			sel = " selected"
		}
		fmt.Fprintf(&b, `<option value="%d"%s>%s</option>`, i, sel, html.EscapeString(t))
	}
	b.WriteString("</select>")
	return b.String()
}

// renderRuns lists the server's run directories: open one (its trials and
// table) or resume it.
func renderRuns() string {
	if len(runList) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="runs"><tr><th>run</th><th>trials</th><th>best</th><th>objective</th><th>space</th><th></th></tr>`)
	for _, r := range runList {
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
