package editor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Form reads the page's form fields by id (the glue reads the DOM; tests
// a map).
type Form interface {
	Value(id string) string
	Checked(id string) bool
}

// Click handles a click on a control with data-action action (e.g.
// "take:3:code", "evaluate"); form reads the fields the action needs.
func (a *App) Click(action string, form Form) {
	parts := strings.Split(action, ":")
	arg := func(k int) string {
		if k < len(parts) {
			return parts[k]
		}
		return ""
	}
	slot := atoi(arg(1))
	rest := strings.TrimPrefix(action, parts[0]+":")
	switch parts[0] {
	case "take": // take:slot:model — the slot runs that model's layer as is
		a.edit(a.Ed.Take(slot, arg(2)))
	case "toggle": // toggle:slot:model — in or out of the slot's merge
		a.edit(a.Ed.ToggleMerge(slot, arg(2)))
	case "drop":
		a.edit(a.Ed.Remove(slot))
	case "dup":
		a.edit(a.Ed.Duplicate(slot))
	case "up":
		a.edit(a.Ed.Move(slot, slot-1))
	case "down":
		a.edit(a.Ed.Move(slot, slot+1))
	case "insert":
		a.edit(a.Ed.Insert(a.Ed.Selected, a.Fam()))
	case "select":
		a.Ed.Select(slot)
	case "undo":
		a.edit(a.Ed.Undo())
	case "redo":
		a.edit(a.Ed.Redo())
	case "dismiss":
		a.Dismiss(slot)
	case "evaluate":
		a.Evaluate(atoi(form.Value("samples")))
	case "export-json":
		a.Export("json")
	case "export-mergekit":
		a.Export("mergekit")
	case "search":
		a.startSearch(form)
	case "build":
		a.build(form.Value("build-name"))
	case "stop":
		a.request(protocol.SearchStop, nil, "stop the search", func(e *protocol.Envelope) {
			var st protocol.Status
			json.Unmarshal(e.Payload, &st)
			if st.Running {
				a.stopping = true
				a.Status = "stopping the search: the trials in flight finish first"
			}
		})
	case "runs":
		a.listRuns()
	case "open-run": // open-run:NAME — its trials and table
		a.openRun(rest)
	case "resume-run": // resume-run:NAME — continue it with its stored settings
		a.resume(rest)
	case "no-scorer":
		a.selectScorer("")
	case "sort": // sort:key — the trial table by that column (again: the other way)
		if rest == a.sortKey {
			a.sortDesc = !a.sortDesc
		} else {
			a.sortKey, a.sortDesc = rest, rest != "trial" && rest != "budget"
		}
	case "compare": // compare:index — pick two trials to compare
		a.compare = append(a.compare, slot)
		if len(a.compare) > 2 {
			a.compare = a.compare[len(a.compare)-2:]
		}
	case "open-trial": // open-trial:index — from a chart point
		a.openTrial = slot
		a.ScrollTo = "trial-detail"
	case "close-trial":
		a.openTrial = -1
	case "load": // load:index — a trial's plan into the editor
		a.loadTrial(slot)
	}
}

// edit finishes an editor call: the server learns the new plan, or the
// refusal is shown.
func (a *App) edit(err error) {
	if err != nil {
		a.Fail("%v", err)
		return
	}
	a.edited()
}

// Change handles a changed field with data-action action and its new
// value.
func (a *App) Change(action, value string) {
	parts := strings.Split(action, ":")
	slot := -1
	if len(parts) > 1 {
		slot = atoi(parts[1])
	}
	number := func(what string) (float64, bool) {
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			a.Fail("slot %d: %s %q is not a number", slot, what, value)
			return 0, false
		}
		return v, true
	}
	switch parts[0] {
	case "layer":
		if v, ok := number("layer"); ok {
			a.edit(a.Ed.SetLayer(slot, int(v), a.Fam()))
		}
	case "lambda":
		if v, ok := number("λ"); ok {
			a.edit(a.Ed.SetScale(slot, v))
		}
	case "density":
		if v, ok := number("density"); ok {
			a.edit(a.Ed.SetDensity(slot, v))
		}
	case "method":
		a.edit(a.Ed.SetMethod(slot, value))
	case "attn", "mlp":
		a.edit(a.Ed.SetSubBlock(slot, parts[0], value))
	case "weight": // weight:slot:k
		if v, ok := number("weight"); ok && len(parts) > 2 {
			a.edit(a.Ed.SetWeight(slot, atoi(parts[2]), v))
		}
	case "filter":
		a.filter = value
	case "pareto-x":
		a.paretoX = atoi(value)
	case "pareto-y":
		a.paretoY = atoi(value)
	}
}

// Key handles a key press outside form fields; it reports whether the
// key was used. Ctrl/Cmd+Z undoes, Ctrl/Cmd+Y or Ctrl/Cmd+Shift+Z redoes.
// With a slot selected: ↑/↓ select the neighbour, alt+↑/↓ move the slot,
// Delete removes it, Escape clears the selection.
func (a *App) Key(key string, alt, ctrl, shift bool) bool {
	e := a.Ed
	if ctrl {
		switch {
		case (key == "z" || key == "Z") && !shift:
			a.edit(e.Undo())
		case key == "y" || key == "Y" || ((key == "z" || key == "Z") && shift):
			a.edit(e.Redo())
		default:
			return false
		}
		return true
	}
	if e.Selected < 0 || e.Selected >= len(e.Plan.Slots) {
		return false
	}
	i := e.Selected
	switch {
	case key == "ArrowUp" && alt && i > 0:
		a.edit(e.Move(i, i-1))
	case key == "ArrowDown" && alt && i+1 < len(e.Plan.Slots):
		a.edit(e.Move(i, i+1))
	case key == "ArrowUp" && i > 0:
		e.Select(i - 1)
	case key == "ArrowDown" && i+1 < len(e.Plan.Slots):
		e.Select(i + 1)
	case key == "Delete" || key == "Backspace":
		a.edit(e.Remove(i))
	case key == "Escape":
		e.Select(-1)
	default:
		return false
	}
	return true
}

// DragSource starts dragging source block (model, layer).
func (a *App) DragSource(model string, layer int) { a.drag, a.dragSlot = &dragSource{model, layer}, -1 }

// DragSlot starts dragging slot i (to reorder it).
func (a *App) DragSlot(i int) { a.drag, a.dragSlot = nil, i }

// DragLabel is what follows the pointer during a drag ("" for none).
func (a *App) DragLabel() string {
	switch {
	case a.drag != nil:
		return fmt.Sprintf("%s[%d] → drop on a slot (shift: merge)", a.drag.model, a.drag.layer)
	case a.dragSlot >= 0:
		return fmt.Sprintf("slot %d → drop on another slot to move it", a.dragSlot)
	}
	return ""
}

// Dragging says whether a drag is under way.
func (a *App) Dragging() bool { return a.drag != nil || a.dragSlot >= 0 }

// DropOn ends a drag on slot i (-1: released elsewhere, which cancels it
// with a word): a source block takes the slot (shift: joins its merge), a
// slot moves there, a slot released on itself is selected.
func (a *App) DropOn(i int, shift bool) {
	src, from := a.drag, a.dragSlot
	a.drag, a.dragSlot = nil, -1
	switch {
	case i < 0 && (src != nil || from >= 0):
		a.Status = "drop cancelled: release the block over a slot of the tailored column"
	case src != nil:
		if err := a.Ed.Drop(i, src.model, src.layer, shift); err != nil {
			a.Fail("%v", err)
			return
		}
		a.edited()
		a.Status = fmt.Sprintf("slot %d: %s", i, strings.TrimSpace(a.Ed.Plan.Slots[i].Describe()))
	case from >= 0 && from != i:
		a.edit(a.Ed.Move(from, i))
	case from == i:
		a.Ed.Select(i)
	}
}

// searchRequest is search.start's payload from the form: the RunRequest
// the CLI's search flags bind to.
func searchRequest(form Form) protocol.RunRequest {
	val := func(id string) string { return strings.TrimSpace(form.Value(id)) }
	num := func(id string) float64 { f, _ := strconv.ParseFloat(val(id), 64); return f }
	trials := int(num("trial-budget"))
	req := protocol.RunRequest{Run: val("run-name"), Remove: int(num("remove")), Trials: &trials, Optimizer: val("optimizer"),
		Space: val("space"), Reference: val("reference"), Aggregate: val("aggregate"),
		MinSamples: int(num("min-budget")), MaxSamples: int(num("max-budget")), Eta: num("eta"),
		Seed: uint64(num("seed")), Batch: int(num("batch")), ParamBudget: num("param-budget"),
		Granularity: val("granularity"), Repair: val("repair"), Quant: val("quant"), Weights: form.Checked("search-weights")}
	for _, x := range strings.Split(val("methods"), ",") {
		if x = strings.TrimSpace(x); x != "" {
			req.Methods = append(req.Methods, x)
		}
	}
	return req
}

// startSearch starts a search from the form. The dashboard keeps showing
// what it showed until the server accepts; a refusal is a notice.
func (a *App) startSearch(form Form) {
	req := searchRequest(form)
	if *req.Trials < 1 {
		a.Fail("search: trials must be at least 1 (the form says %d)", *req.Trials)
		return
	}
	if req.MinSamples > 0 && req.MaxSamples > 0 && req.MinSamples > req.MaxSamples {
		a.Fail("search: the smallest budget %d is larger than the largest %d", req.MinSamples, req.MaxSamples)
		return
	}
	a.launch(req, "start the search", "search started")
}

func (a *App) resume(name string) {
	a.launch(protocol.RunRequest{Run: name, Resume: true}, "resume "+name, "resuming "+name)
}

func (a *App) launch(req protocol.RunRequest, what, ok string) {
	a.request(protocol.SearchStart, req, what, func(e *protocol.Envelope) {
		var st protocol.Status
		json.Unmarshal(e.Payload, &st)
		a.Trials, a.Results, a.compare, a.Run, a.stopping = nil, nil, nil, st.Run, false
		if a.Runs != nil {
			a.listRuns()
		}
		a.trialTarget, a.searchStart = 0, a.Now()
		if req.Trials != nil {
			a.trialTarget = *req.Trials
		}
		a.Status = ok
	})
}

func (a *App) build(name string) {
	if a.request(protocol.BuildPlan, protocol.BuildRequest{Plan: json.RawMessage(a.planKey()), Name: name}, "build "+name, func(e *protocol.Envelope) {
		var r protocol.BuildResult
		json.Unmarshal(e.Payload, &r)
		a.Status = "built " + r.Dir
	}) {
		a.Status = "building " + name + "…"
	}
}

func (a *App) listRuns() {
	a.request(protocol.RunsList, nil, "list the runs", func(e *protocol.Envelope) {
		a.Runs = nil
		json.Unmarshal(e.Payload, &a.Runs)
	})
}

func (a *App) openRun(name string) {
	a.request(protocol.RunOpen, protocol.RunOpenRequest{Run: name}, "open run "+name, func(e *protocol.Envelope) {
		var d protocol.RunData
		json.Unmarshal(e.Payload, &d)
		a.Trials, a.Results, a.compare, a.Run, a.openTrial = nil, d.Rows, nil, d.Run, -1
		for _, tr := range d.Trials {
			a.addTrial(tr)
		}
		a.Status = fmt.Sprintf("opened run %s: %d trials", d.Run, len(a.Trials))
	})
}

func (a *App) loadTrial(index int) {
	for _, t := range a.Trials {
		if t.Index == index && t.Plan != nil {
			a.Ed.Replace(t.Plan)
			a.edited()
			a.Status = fmt.Sprintf("trial %d loaded into the editor", index)
			a.ScrollTo = "editor"
			return
		}
	}
	a.Fail("trial %d has no plan to load", index)
}

// openPlan reads a plan JSON or a mergekit YAML (by its content).
func openPlan(data []byte, layers int) (*plan.Plan, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return plan.Parse(data)
	}
	return mergekit.Import(data, func(string) (int, error) { return layers, nil })
}

func exportMergekit(p *plan.Plan) (string, error) {
	y, err := mergekit.Export(p)
	return string(y), err
}
