//go:build js && wasm

// Command wasm is gptailor's browser app, compiled with GOOS=js
// GOARCH=wasm: a plan editor (a grid of slots × models), validation and
// parameter counts computed here by the same shared/plan code the server
// runs, evaluation, export, scorer uploads and live searches over the
// websocket (shared/protocol). It renders into the DOM from Go; the only
// hand-written JavaScript is the loader in index.html.
package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/gptailor/gptailor/shared/editor"
	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

var (
	doc     = js.Global().Get("document")
	ws      js.Value
	nextID  int
	pending = map[string]func(*protocol.Envelope){}

	family  protocol.FamilyInfo
	current = &plan.Plan{Version: plan.Version}
	undo    []string
	redo    []string
	trials  []editor.TrialPoint
	evalOut string
	status  = "connecting…"
	dirty   bool
	workers []protocol.Worker    // NATS workers (serve --workers/--nats)
	results []protocol.ResultRow // the last finished search: winner, then baselines

	diag *editor.Diagnostics // per-layer block influence, for the heat strips

	runList          []protocol.RunInfo // the server's run directories
	sortKey          = "objective"      // the trial table's order
	sortDesc         = true
	trialFilter      string
	paretoX, paretoY = 0, 1      // the tasks of the Pareto chart
	comparePick      []int       // up to two trials to compare
	searchStart      float64     // when the current search started (ms), for the ETA
	trialTarget      int         // its trial budget
	selected         = -1        // the slot selected in the diagram
	dragSrc          *dragSource // a source block being dragged
	dragSlot         = -1        // a slot being dragged (to reorder)
)

type dragSource struct {
	model string
	layer int
}

func el(id string) js.Value { return doc.Call("getElementById", id) }

func send(typ string, payload any, reply func(*protocol.Envelope)) {
	nextID++
	id := strconv.Itoa(nextID)
	b, err := protocol.Encode(id, typ, payload)
	if err != nil {
		status = "error: " + err.Error()
		render()
		return
	}
	if reply != nil {
		pending[id] = reply
	}
	ws.Call("send", string(b))
}

func snapshot() string {
	b, _ := json.Marshal(current)
	return string(b)
}

func restore(s string) {
	var p plan.Plan
	if err := json.Unmarshal([]byte(s), &p); err == nil {
		current = &p
	}
}

// edit records an undo point, applies f and re-renders.
func edit(f func()) {
	undo = append(undo, snapshot())
	redo = nil
	f()
	putPlan()
	render()
}

// putPlan tells the server the plan being edited (plan.put), so a reload
// or another tab starts from it.
func putPlan() { send(protocol.PutPlan, protocol.PlanPayload{Plan: planJSON()}, nil) }

func famInfo() *plan.Family {
	return &plan.Family{Models: family.Models, Layers: family.Layers, LayerParams: family.LayerParams, OuterParams: family.OuterParams, AttnParams: family.AttnParams, MLPParams: family.MLPParams}
}

func planJSON() json.RawMessage {
	b, _ := json.Marshal(current)
	return b
}

func main() {
	u := js.Global().Get("location")
	scheme := "ws://"
	if u.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	ws = js.Global().Get("WebSocket").New(scheme + u.Get("host").String() + "/ws")
	ws.Set("onopen", js.FuncOf(func(js.Value, []js.Value) any {
		send(protocol.Hello, nil, func(e *protocol.Envelope) {
			var st protocol.State
			json.Unmarshal(e.Payload, &st)
			family = st.Family
			workers = st.Workers
			if st.Search != nil {
				results = st.Search.Rows
			}
			trials = nil
			for _, tr := range st.Trials {
				addTrial(tr)
			}
			if st.Plan != nil {
				current = st.Plan
			} else {
				for i := 0; i < family.Layers; i++ {
					current.Slots = append(current.Slots, plan.Slot{Take: &plan.Take{Model: plan.BaseAlias, Layer: i}})
				}
			}
			status = "connected"
			if len(family.Tasks) > 0 {
				send(protocol.Diagnostics, nil, func(e *protocol.Envelope) {
					var d editor.Diagnostics
					if json.Unmarshal(e.Payload, &d) == nil {
						diag = &d
						render()
					}
				})
			}
			render()
		})
		return nil
	}))
	ws.Set("onclose", js.FuncOf(func(js.Value, []js.Value) any {
		status = "disconnected: reload the page to reconnect"
		render()
		return nil
	}))
	ws.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		var e protocol.Envelope
		if err := json.Unmarshal([]byte(args[0].Get("data").String()), &e); err != nil {
			return nil
		}
		onMessage(&e)
		return nil
	}))
	doc.Call("addEventListener", "click", js.FuncOf(onClick))
	doc.Call("addEventListener", "mousedown", js.FuncOf(onMouseDown))
	doc.Call("addEventListener", "mouseup", js.FuncOf(onMouseUp))
	doc.Call("addEventListener", "keydown", js.FuncOf(onKey))
	doc.Call("addEventListener", "change", js.FuncOf(onChange))
	render()
	select {}
}

func onMessage(e *protocol.Envelope) {
	if f, ok := pending[e.ID]; ok && e.ID != "" {
		delete(pending, e.ID)
		if e.Type == protocol.ReplyError {
			var er protocol.Error
			json.Unmarshal(e.Payload, &er)
			status = "error: " + er.Reason
			render()
			return
		}
		f(e)
		return
	}
	switch e.Type {
	case protocol.EventTrial:
		var ev protocol.TrialEvent
		if json.Unmarshal(e.Payload, &ev) == nil {
			addTrial(ev)
		}
		if searchStart > 0 && trialTarget > 0 {
			el := (js.Global().Get("Date").Call("now").Float() - searchStart) / 1000
			n := len(trials)
			left := el / float64(max(n, 1)) * float64(max(trialTarget-n, 0))
			status = fmt.Sprintf("search running: %d of %d trials, %.0f s elapsed, about %.0f s left", n, trialTarget, el, left)
		}
		scheduleRender()
	case protocol.SearchStatus:
		var st protocol.Status
		json.Unmarshal(e.Payload, &st)
		status = fmt.Sprintf("search finished: %d trials, best objective %.1f%%", st.Trials, 100*st.Best)
		if st.Running {
			status = fmt.Sprintf("search running: %d trials", st.Trials)
		}
		if st.Error != "" {
			status = "search failed: " + st.Error
		}
		results = st.Rows
		scheduleRender()
	case protocol.EventWorkers:
		workers = nil
		json.Unmarshal(e.Payload, &workers)
		scheduleRender()
	case protocol.EventProgress:
		var p protocol.Progress
		json.Unmarshal(e.Payload, &p)
		status = fmt.Sprintf("%s: %d/%d", p.Op, p.Done, p.Total)
		scheduleRender()
	}
}

// scheduleRender coalesces renders to one per animation frame, so a
// search streaming hundreds of trials keeps the page responsive.
func scheduleRender() {
	if dirty {
		return
	}
	dirty = true
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any {
		dirty = false
		render()
		f.Release()
		return nil
	})
	js.Global().Call("requestAnimationFrame", f)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func onClick(_ js.Value, args []js.Value) any {
	t := args[0].Get("target")
	a := t.Call("getAttribute", "data-action")
	if a.IsNull() {
		return nil
	}
	parts := strings.Split(a.String(), ":")
	slot := -1
	if len(parts) > 1 {
		slot = atoi(parts[1])
	}
	switch parts[0] {
	case "take": // take:slot:model — this slot runs that model's layer as is
		edit(func() {
			s := &current.Slots[slot]
			s.Take, s.Merge = &plan.Take{Model: parts[2], Layer: sourceLayer(*s)}, nil
		})
	case "toggle": // toggle:slot:model — membership in the slot's merge
		edit(func() { toggleMerge(slot, parts[2]) })
	case "drop":
		edit(func() { current.Slots = append(current.Slots[:slot], current.Slots[slot+1:]...) })
	case "dup":
		edit(func() {
			s := clone(current.Slots[slot])
			current.Slots = append(current.Slots[:slot+1], append([]plan.Slot{s}, current.Slots[slot+1:]...)...)
		})
	case "up", "down":
		j := slot - 1
		if parts[0] == "down" {
			j = slot + 1
		}
		if j >= 0 && j < len(current.Slots) {
			edit(func() { current.Slots[slot], current.Slots[j] = current.Slots[j], current.Slots[slot] })
		}
	case "insert":
		edit(func() {
			current.Slots = append(current.Slots, plan.Slot{Take: &plan.Take{Model: plan.BaseAlias, Layer: 0}})
		})
	case "undo":
		if len(undo) > 0 {
			redo = append(redo, snapshot())
			restore(undo[len(undo)-1])
			undo = undo[:len(undo)-1]
			putPlan()
			render()
		}
	case "redo":
		if len(redo) > 0 {
			undo = append(undo, snapshot())
			restore(redo[len(redo)-1])
			redo = redo[:len(redo)-1]
			putPlan()
			render()
		}
	case "evaluate":
		status = "evaluating…"
		send(protocol.Evaluate, protocol.EvaluateRequest{Plan: planJSON(), Samples: atoi(el("samples").Get("value").String())}, func(e *protocol.Envelope) {
			evalOut = renderEval(e.Payload)
			status = "evaluated"
			render()
		})
		render()
	case "export-json", "export-mergekit":
		text := ""
		if parts[0] == "export-json" {
			b, _ := plan.Marshal(current)
			text = string(b)
		} else if y, err := mergekit.Export(current); err == nil {
			text = string(y)
		} else {
			text = err.Error()
		}
		el("export").Set("textContent", text)
		if parts[0] == "export-json" {
			download("plan.json", "application/json", text)
		} else if !strings.HasPrefix(text, "mergekit") && !strings.Contains(text, "cannot") {
			download("mergekit.yaml", "application/yaml", text)
		}
	case "search":
		trials = nil
		send(protocol.SearchStart, searchForm(false, ""), func(e *protocol.Envelope) {
			status, searchStart = "search started", js.Global().Get("Date").Call("now").Float()
			render()
		})
	case "build":
		name := el("build-name").Get("value").String()
		status = "building " + name + "…"
		send(protocol.BuildPlan, protocol.BuildRequest{Plan: planJSON(), Name: name}, func(e *protocol.Envelope) {
			var r protocol.BuildResult
			json.Unmarshal(e.Payload, &r)
			status = "built " + r.Dir
			render()
		})
		render()
	case "stop":
		send(protocol.SearchStop, nil, func(*protocol.Envelope) {})
	case "runs":
		send(protocol.RunsList, nil, func(e *protocol.Envelope) {
			runList = nil
			json.Unmarshal(e.Payload, &runList)
			render()
		})
	case "open-run", "resume-run": // open-run:NAME — its trials and table; resume-run:NAME — continue it
		name := strings.TrimPrefix(strings.TrimPrefix(a.String(), "open-run:"), "resume-run:")
		if parts[0] == "resume-run" {
			trials = nil
			send(protocol.SearchStart, searchForm(true, name), func(*protocol.Envelope) {
				status, searchStart = "resuming "+name, js.Global().Get("Date").Call("now").Float()
				render()
			})
			return nil
		}
		send(protocol.RunOpen, protocol.RunOpenRequest{Run: name}, func(e *protocol.Envelope) {
			var d protocol.RunData
			json.Unmarshal(e.Payload, &d)
			trials, results, comparePick = nil, d.Rows, nil
			for _, tr := range d.Trials {
				addTrial(tr)
			}
			status = fmt.Sprintf("opened run %s: %d trials", d.Run, len(trials))
			render()
		})
	case "sort": // sort:key — the trial table by that column (again: the other way)
		key := strings.TrimPrefix(a.String(), "sort:")
		if key == sortKey {
			sortDesc = !sortDesc
		} else {
			sortKey, sortDesc = key, key != "trial" && key != "budget"
		}
		render()
	case "compare": // compare:index — pick two trials to compare
		comparePick = append(comparePick, slot)
		if len(comparePick) > 2 {
			comparePick = comparePick[len(comparePick)-2:]
		}
		render()
	case "load": // load:index — a trial's plan into the editor
		for _, r := range trials {
			if r.Index == slot && r.Plan != nil {
				p := r.Plan
				edit(func() { current = p })
			}
		}
	}
	return nil
}

func onChange(_ js.Value, args []js.Value) any {
	t := args[0].Get("target")
	a := t.Call("getAttribute", "data-action")
	if a.IsNull() {
		return nil
	}
	parts := strings.Split(a.String(), ":")
	switch parts[0] {
	case "layer": // layer:slot — the source layer
		slot, v := atoi(parts[1]), atoi(t.Get("value").String())
		edit(func() {
			s := &current.Slots[slot]
			if s.Take != nil {
				s.Take.Layer = v
			} else {
				s.Merge.Layer = v
			}
		})
	case "lambda": // lambda:slot
		slot := atoi(parts[1])
		v, _ := strconv.ParseFloat(t.Get("value").String(), 64)
		edit(func() {
			if m := current.Slots[slot].Merge; m != nil {
				if m.Method == "slerp" {
					m.T = &v
				} else {
					m.Lambda = &v
				}
			}
		})
	case "density": // density:slot
		slot := atoi(parts[1])
		v, _ := strconv.ParseFloat(t.Get("value").String(), 64)
		edit(func() {
			if m := current.Slots[slot].Merge; m != nil {
				m.Density = &v
			}
		})
	case "method": // method:slot
		slot := atoi(parts[1])
		edit(func() {
			if m := current.Slots[slot].Merge; m != nil {
				m.Method = t.Get("value").String()
				if m.Method == "slerp" && m.T == nil {
					m.T = plan.Ptr(0.5)
				}
			}
		})
	case "attn", "mlp": // attn:slot / mlp:slot — a sub-block's recipe
		trial := clonePlan(current)
		if err := editor.SetSubBlock(trial, atoi(parts[1]), parts[0], t.Get("value").String()); err != nil {
			status = err.Error()
			render()
			return nil
		}
		edit(func() { current = trial })
	case "weight": // weight:slot:k
		w, err := strconv.ParseFloat(t.Get("value").String(), 64)
		if err != nil {
			status = "weight: not a number"
			render()
			return nil
		}
		trial := clonePlan(current)
		if err := editor.SetWeight(trial, atoi(parts[1]), atoi(parts[2]), w); err != nil {
			status = err.Error()
			render()
			return nil
		}
		edit(func() { current = trial })
	case "filter":
		trialFilter = t.Get("value").String()
		render()
	case "pareto-x":
		paretoX = atoi(t.Get("value").String())
		render()
	case "pareto-y":
		paretoY = atoi(t.Get("value").String())
		render()
	case "open-plan":
		f, name, ok := chosenFile(t)
		if !ok {
			return nil
		}
		f.Call("text").Call("then", js.FuncOf(func(_ js.Value, a []js.Value) any {
			p, err := openPlan(name, []byte(a[0].String()))
			if err != nil {
				status = "open " + name + ": " + err.Error()
				render()
				return nil
			}
			edit(func() { current, selected = p, -1 })
			status = "opened " + name
			render()
			return nil
		}))
	case "upload":
		f, name, ok := chosenFile(t)
		if !ok {
			return nil
		}
		f.Call("arrayBuffer").Call("then", js.FuncOf(func(_ js.Value, a []js.Value) any {
			buf := js.Global().Get("Uint8Array").New(a[0])
			data := make([]byte, buf.Length())
			js.CopyBytesToGo(data, buf)
			nextID++
			id := strconv.Itoa(nextID)
			hdr, _ := json.Marshal(protocol.UploadHeader{V: protocol.Version, ID: id, Type: protocol.ScorerUpload, Name: name})
			frame := append(append(hdr, '\n'), data...)
			out := js.Global().Get("Uint8Array").New(len(frame))
			js.CopyBytesToJS(out, frame)
			pending[id] = func(*protocol.Envelope) {
				send(protocol.SelectScorer, protocol.SelectScorerRequest{Name: name}, func(*protocol.Envelope) {
					status = "scorer " + name + " uploaded and selected"
					render()
				})
			}
			ws.Call("send", out)
			return nil
		}))
	}
	return nil
}

func sourceLayer(s plan.Slot) int {
	if s.Take != nil {
		return s.Take.Layer
	}
	return s.Merge.Layer
}

func clone(s plan.Slot) plan.Slot {
	b, _ := json.Marshal(s)
	var c plan.Slot
	json.Unmarshal(b, &c)
	if s.Take != nil && c.Take == nil {
		t := *s.Take
		c.Take = &t
	}
	return c
}

// toggleMerge adds or removes a model from the slot's merge; a take
// becomes a task-arithmetic merge (λ 0.5) of its model and the new one.
func toggleMerge(slot int, model string) {
	s := &current.Slots[slot]
	if s.Take != nil {
		models := []string{model}
		if s.Take.Model != model && s.Take.Model != plan.BaseAlias {
			models = []string{s.Take.Model, model}
		}
		s.Merge = &plan.Merge{Method: "task_arithmetic", Layer: s.Take.Layer, Models: models, Params: plan.Params{Lambda: plan.Ptr(0.5)}}
		s.Take = nil
		return
	}
	m := s.Merge
	for i, x := range m.Models {
		if x == model {
			m.Models = append(m.Models[:i], m.Models[i+1:]...)
			// Per-model lists stay aligned with the models.
			if i < len(m.Weights) {
				m.Weights = append(m.Weights[:i], m.Weights[i+1:]...)
			}
			if i < len(m.Layers) {
				m.Layers = append(m.Layers[:i], m.Layers[i+1:]...)
			}
			if len(m.Models) == 0 {
				s.Take, s.Merge = &plan.Take{Model: plan.BaseAlias, Layer: m.Layer}, nil
			}
			return
		}
	}
	m.Models = append(m.Models, model)
	if m.Weights != nil {
		m.Weights = append(m.Weights, 1)
	}
	if m.Layers != nil {
		m.Layers = append(m.Layers, m.Layer)
	}
}

func render() {
	el("status").Set("textContent", status)
	if family.Layers == 0 {
		return
	}
	problems := map[int][]string{}
	var general []string
	if err := plan.Validate(current, famInfo()); err != nil {
		if ps, ok := err.(plan.Problems); ok {
			for _, p := range ps {
				if strings.HasPrefix(p.Path, "slots[") {
					i := atoi(strings.TrimPrefix(strings.SplitN(p.Path, "]", 2)[0], "slots["))
					problems[i] = append(problems[i], p.String())
				} else {
					general = append(general, p.String())
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString(`<table class="grid"><tr><th>slot</th><th>layer</th>`)
	for _, m := range family.Models {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(m))
	}
	b.WriteString("<th>merge</th><th></th></tr>")
	for i, s := range current.Slots {
		cls := ""
		if len(problems[i]) > 0 {
			cls = ` class="bad"`
		}
		fmt.Fprintf(&b, `<tr id="slot-%d"%s><td>%d</td><td><input type="number" min="0" max="%d" value="%d" data-action="layer:%d" class="layer"></td>`,
			i, cls, i, family.Layers-1, sourceLayer(s), i)
		for _, m := range family.Models {
			state, label := "", "·"
			switch {
			case s.Take != nil && s.Take.Model == m:
				state, label = "take", "take"
			case s.Merge != nil && contains(s.Merge.Models, m):
				state, label = "merge", "merge"
				if s.Merge.Weights != nil {
					for k, x := range s.Merge.Models {
						if x == m && k < len(s.Merge.Weights) {
							label = fmt.Sprintf("w %.2g", s.Merge.Weights[k])
						}
					}
				}
			}
			fmt.Fprintf(&b, `<td class="cell %s"><button data-action="take:%d:%s" id="take-%d-%s">%s</button><button class="m" data-action="toggle:%d:%s" id="toggle-%d-%s" title="in/out of the merge">±</button></td>`,
				state, i, m, i, m, label, i, m, i, m)
		}
		b.WriteString("<td>")
		if s.Merge != nil {
			v := plan.Get(s.Merge.Lambda, 1)
			if s.Merge.Method == "slerp" {
				v = plan.Get(s.Merge.T, 0.5)
			}
			fmt.Fprintf(&b, `<select data-action="method:%d">`, i)
			for _, mm := range []string{"task_arithmetic", "ties", "linear", "slerp", "dare_linear", "breadcrumbs", "model_stock"} {
				sel := ""
				if mm == s.Merge.Method {
					sel = " selected"
				}
				fmt.Fprintf(&b, `<option%s>%s</option>`, sel, mm)
			}
			name := "λ"
			if s.Merge.Method == "slerp" {
				name = "t"
			}
			fmt.Fprintf(&b, `</select> %s <input type="range" min="0" max="1" step="0.05" value="%g" data-action="lambda:%d" id="lambda-%d"> %.2f`, name, v, i, i, v)
			if s.Merge.CrossLayer() {
				fmt.Fprintf(&b, ` <span class="xl" title="each model's source layer">layers %s</span>`, html.EscapeString(strings.Trim(fmt.Sprint(s.Merge.Layers), "[]")))
			}
			switch s.Merge.Method {
			case "ties", "dare_linear", "dare_ties", "breadcrumbs":
				d := plan.Get(s.Merge.Density, 1)
				fmt.Fprintf(&b, ` density <input type="range" min="0" max="1" step="0.05" value="%g" data-action="density:%d" id="density-%d"> %.2f`, d, i, i, d)
			}
		}
		b.WriteString("</td><td>")
		for _, act := range []string{"up", "down", "dup", "drop"} {
			fmt.Fprintf(&b, `<button data-action="%s:%d" id="%s-%d">%s</button>`, act, i, act, i, map[string]string{"up": "↑", "down": "↓", "dup": "dup", "drop": "drop"}[act])
		}
		b.WriteString("</td></tr>")
		for _, p := range problems[i] {
			fmt.Fprintf(&b, `<tr class="problem"><td></td><td colspan="%d">%s</td></tr>`, len(family.Models)+3, html.EscapeString(p))
		}
	}
	b.WriteString("</table>")
	el("plan").Set("innerHTML", b.String())
	fi := famInfo()
	info := fmt.Sprintf("%d slots · %d parameters · %.1f%% removed", len(current.Slots), current.ParamCount(fi), 100*current.FractionRemoved(fi))
	if len(general) > 0 {
		info += " · " + strings.Join(general, "; ")
	}
	el("info").Set("textContent", info)
	el("eval").Set("innerHTML", evalOut)
	el("search").Set("innerHTML", renderSearch()+renderResults()+renderWorkers())
	el("diagram").Set("innerHTML", editor.Diagram(current, famInfo(), diag, selected))
	el("slot-panel").Set("innerHTML", editor.SlotPanel(current, famInfo(), selected))
	el("task-list").Set("textContent", taskList())
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func renderEval(payload []byte) string {
	var r protocol.EvaluateResult
	if json.Unmarshal(payload, &r) != nil {
		return "unreadable result"
	}
	var b strings.Builder
	b.WriteString(`<table id="eval-table"><tr><th>task</th><th>metric</th><th>plan</th><th>reference</th><th>retention</th><th></th></tr>`)
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

func addTrial(ev protocol.TrialEvent) {
	t := ev.Trial
	r := editor.TrialPoint{Index: t.Index, Budget: t.Samples, Failed: t.Error != "", Plan: ev.Plan, Retention: t.Retention}
	if t.Objective != nil {
		r.Objective = *t.Objective
	}
	trials = append(trials, r)
}

// renderResults is the finished search's table: the winner, then the
// baselines, retention per task and the weighted mean.
func renderResults() string {
	if len(results) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="results" class="results"><tr><th>plan</th>`)
	for _, t := range family.Tasks {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(t))
	}
	b.WriteString("<th>objective</th></tr>")
	for _, r := range results {
		fmt.Fprintf(&b, `<tr data-kind="%s"><td>%s</td>`, html.EscapeString(r.Kind), html.EscapeString(r.Name))
		for _, v := range r.Retention {
			fmt.Fprintf(&b, "<td>%.1f%%</td>", 100*v)
		}
		fmt.Fprintf(&b, "<td>%.1f%%</td></tr>", 100*r.Objective)
	}
	b.WriteString("</table>")
	var bars []editor.Row
	for _, r := range results {
		bars = append(bars, editor.Row{Name: r.Name, Retention: r.Retention})
	}
	b.WriteString(editor.RetentionBars(bars, family.Tasks))
	return b.String()
}

// renderWorkers lists the evaluation workers: busy or idle, the trial in
// hand, the last heartbeat.
func renderWorkers() string {
	if len(workers) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table id="workers"><tr><th>worker</th><th>state</th><th>trial</th><th>threads</th><th>jobs done</th><th>last heard</th></tr>`)
	for _, w := range workers {
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

// chosenFile is the file a file input holds, and its name.
func chosenFile(input js.Value) (js.Value, string, bool) {
	files := input.Get("files")
	if files.Length() == 0 {
		return js.Undefined(), "", false
	}
	f := files.Index(0)
	return f, f.Get("name").String(), true
}
