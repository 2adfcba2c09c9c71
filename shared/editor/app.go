package editor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// App is the browser app's whole state and behaviour, without a DOM: the
// plan editor, the server's family, evaluation and search results, the
// notices shown to the user and the requests in flight. The wasm glue
// (wasm/) hands it the websocket's messages and the page's events and
// renders what Views returns; tests drive it the same way natively.
type App struct {
	Family  protocol.FamilyInfo
	Ed      *Editor
	Diag    *Diagnostics
	Trials  []TrialPoint
	Results []protocol.ResultRow // the shown run's table: the winner, then the baselines
	Workers []protocol.Worker
	Runs    []protocol.RunInfo
	Scorer  string // the scorer the server applies to evaluations and searches ("": none)
	Scorers []string
	Run     string // the run the dashboard shows ("": none yet)

	Connected bool
	Status    string   // the last thing done, or in progress
	Notices   []Notice // errors and warnings, shown until dismissed
	ScrollTo  string   // an element id the glue scrolls into view once (then clears)

	Transmit       func(text []byte) // sends a text frame (set by the glue)
	TransmitBinary func(b []byte)    // sends a binary frame
	Download       func(name, mime, text string)
	Now            func() float64 // milliseconds, for the search's ETA

	eval        *computed // the last evaluation shown
	export      *computed // the last export shown
	sortKey     string
	sortDesc    bool
	filter      string
	paretoX     int
	paretoY     int
	compare     []int
	searchStart float64
	trialTarget int
	drag        *dragSource
	dragSlot    int
	nextID      int
	pending     map[string]func(*protocol.Envelope)
	nextNotice  int
	stopping    bool // a stop was asked for: the search's end is a stop
	openTrial   int  // the trial opened from a chart (-1: none)
}

// Notice is a message that stays on screen until dismissed: an error (a
// refused edit or request, with what to do) or a warning.
type Notice struct {
	ID    int
	Text  string
	Error bool
}

// computed is a result shown with what it was computed for, so a view can
// say when it no longer applies (Stale).
type computed struct {
	html    string
	plan    string // the plan's JSON when it was computed
	samples int
	scorer  string
	what    string
}

type dragSource struct {
	model string
	layer int
}

// NewApp is an app not yet connected, editing an empty plan.
func NewApp() *App {
	return &App{Ed: NewEditor(nil), sortKey: "objective", sortDesc: true, paretoY: 1, dragSlot: -1, openTrial: -1,
		pending: map[string]func(*protocol.Envelope){}, Status: "connecting…",
		Transmit: func([]byte) {}, TransmitBinary: func([]byte) {}, Download: func(string, string, string) {}, Now: func() float64 { return 0 }}
}

// Fam is the family as plan validation and counting see it.
func (a *App) Fam() *plan.Family {
	f := a.Family
	return &plan.Family{Models: f.Models, Layers: f.Layers, LayerParams: f.LayerParams, OuterParams: f.OuterParams, AttnParams: f.AttnParams, MLPParams: f.MLPParams}
}

// Fail shows an error notice until it is dismissed.
func (a *App) Fail(format string, args ...any) {
	a.nextNotice++
	a.Notices = append(a.Notices, Notice{ID: a.nextNotice, Text: fmt.Sprintf(format, args...), Error: true})
}

// Dismiss removes notice id.
func (a *App) Dismiss(id int) {
	for i, n := range a.Notices {
		if n.ID == id {
			a.Notices = append(a.Notices[:i], a.Notices[i+1:]...)
			return
		}
	}
}

// request sends a request; reply gets the answer, or an error notice
// starting with what is shown instead. Disconnected, it fails at once.
func (a *App) request(typ string, payload any, what string, reply func(*protocol.Envelope)) bool {
	if !a.Connected {
		a.Fail("%s: not connected to the server (reload the page once `gptailor serve` runs again)", what)
		return false
	}
	a.nextID++
	id := strconv.Itoa(a.nextID)
	b, err := protocol.Encode(id, typ, payload)
	if err != nil {
		a.Fail("%s: %v", what, err)
		return false
	}
	a.pending[id] = func(e *protocol.Envelope) {
		if e.Type == protocol.ReplyError {
			var er protocol.Error
			json.Unmarshal(e.Payload, &er)
			a.Fail("%s: %s", what, er.Reason)
			a.Status = what + " failed"
			return
		}
		if reply != nil {
			reply(e)
		}
	}
	a.Transmit(b)
	return true
}

// Opened is the websocket opening: hello asks for the server's state.
func (a *App) Opened() {
	a.Connected = true
	a.request(protocol.Hello, nil, "connect", func(e *protocol.Envelope) {
		var st protocol.State
		if err := json.Unmarshal(e.Payload, &st); err != nil {
			a.Fail("connect: unreadable state: %v", err)
			return
		}
		a.hello(st)
	})
}

func (a *App) hello(st protocol.State) {
	a.Family, a.Workers, a.Scorer, a.Scorers = st.Family, st.Workers, st.Scorer, st.Scorers
	if st.Search != nil {
		a.Results, a.Run = st.Search.Rows, st.Search.Run
	}
	a.Trials = nil
	for _, tr := range st.Trials {
		a.addTrial(tr)
	}
	if st.Plan != nil {
		a.Ed = NewEditor(st.Plan)
	} else {
		a.Ed = NewEditor(BasePlan(a.Fam()))
	}
	a.Status = "ready: edit the plan, evaluate it or start a search"
	if len(a.Family.Tasks) > 0 {
		a.request(protocol.Diagnostics, nil, "layer diagnostics", func(e *protocol.Envelope) {
			var d Diagnostics
			if json.Unmarshal(e.Payload, &d) == nil {
				a.Diag = &d
			}
		})
	}
}

// Closed is the websocket closing: every request in flight fails, and so
// does every later one until the page reconnects.
func (a *App) Closed() {
	a.Connected = false
	for id, f := range a.pending {
		delete(a.pending, id)
		f(&protocol.Envelope{Type: protocol.ReplyError, Payload: json.RawMessage(`{"reason":"the connection to the server closed before the reply"}`)})
	}
	a.Fail("disconnected from the server: reload the page once `gptailor serve` runs again (the plan is kept by the server)")
	a.Status = "disconnected"
}

// Receive handles one message from the server.
func (a *App) Receive(data []byte) {
	var e protocol.Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		a.Fail("an unreadable message from the server: %v", err)
		return
	}
	if f, ok := a.pending[e.ID]; ok && e.ID != "" {
		delete(a.pending, e.ID)
		f(&e)
		return
	}
	switch e.Type {
	case protocol.EventTrial:
		var ev protocol.TrialEvent
		if json.Unmarshal(e.Payload, &ev) == nil {
			a.addTrial(ev)
		}
		if a.searchStart > 0 && a.trialTarget > 0 {
			el := (a.Now() - a.searchStart) / 1000
			n := len(a.Trials)
			left := el / float64(max(n, 1)) * float64(max(a.trialTarget-n, 0))
			a.Status = fmt.Sprintf("search running: %d of %d trials, %.0f s elapsed, about %.0f s left", n, a.trialTarget, el, left)
		}
	case protocol.SearchStatus:
		var st protocol.Status
		json.Unmarshal(e.Payload, &st)
		a.searchStatus(st)
	case protocol.EventWorkers:
		a.Workers = nil
		json.Unmarshal(e.Payload, &a.Workers)
	case protocol.EventProgress:
		var p protocol.Progress
		json.Unmarshal(e.Payload, &p)
		a.Status = fmt.Sprintf("%s: %d/%d", p.Op, p.Done, p.Total)
	case protocol.EventNotice:
		var er protocol.Error
		json.Unmarshal(e.Payload, &er)
		a.Fail("%s", er.Reason)
	}
}

func (a *App) searchStatus(st protocol.Status) {
	if st.Run != "" {
		a.Run = st.Run
	}
	switch {
	case st.Error != "":
		a.Status = "search failed"
		a.Fail("search %s failed: %s", st.Run, st.Error)
	case st.Running:
		a.Status = fmt.Sprintf("search running: %d trials", st.Trials)
	case a.stopping:
		a.Status = fmt.Sprintf("search %s stopped after %d trials: resume it from the runs list", st.Run, st.Trials)
	default:
		a.Status = fmt.Sprintf("search %s finished: %d trials, the winner's objective %s", st.Run, st.Trials, pct(winner(st.Rows, st.Best)))
	}
	if !st.Running {
		a.stopping = false
		if a.Runs != nil { // the list shown is refreshed
			a.listRuns()
		}
	}
	a.Results = st.Rows
}

// winner is the objective of the result table's winner (the search's
// row), or best when the table is missing.
func winner(rows []protocol.ResultRow, best float64) float64 {
	for _, r := range rows {
		if r.Kind == "search" {
			return r.Objective
		}
	}
	return best
}

func (a *App) addTrial(ev protocol.TrialEvent) {
	t := ev.Trial
	r := TrialPoint{Index: t.Index, Budget: t.Samples, Failed: t.Error != "", Plan: ev.Plan, Retention: t.Retention}
	if t.Objective != nil {
		r.Objective = *t.Objective
	}
	a.Trials = append(a.Trials, r)
}

// planKey identifies the plan being edited, for staleness.
func (a *App) planKey() string {
	b, _ := json.Marshal(a.Ed.Plan)
	return string(b)
}

// edited is called after every successful edit: the server is told the
// plan (plan.put), so a reload or another tab starts from it.
func (a *App) edited() {
	if a.Connected {
		a.request(protocol.PutPlan, protocol.PlanPayload{Plan: json.RawMessage(a.planKey())}, "keep the plan on the server", nil)
	}
}

// Evaluate asks the server to evaluate the plan on samples per task.
func (a *App) Evaluate(samples int) {
	key, scorer := a.planKey(), a.Scorer
	if a.request(protocol.Evaluate, protocol.EvaluateRequest{Plan: json.RawMessage(key), Samples: samples}, "evaluate", func(e *protocol.Envelope) {
		var r protocol.EvaluateResult
		if err := json.Unmarshal(e.Payload, &r); err != nil {
			a.Fail("evaluate: an unreadable result: %v", err)
			return
		}
		a.eval = &computed{html: evalTable(r), plan: key, samples: r.Samples, scorer: scorer, what: "evaluation"}
		a.Status = "evaluated"
	}) {
		a.Status = "evaluating…"
	}
}

// Stale says why a shown result no longer applies ("" when it does).
func (a *App) stale(c *computed) string {
	switch {
	case c == nil:
		return ""
	case c.plan != a.planKey():
		return "computed for an earlier plan: the plan has changed since"
	case c.scorer != a.Scorer:
		return "computed with another scorer"
	}
	return ""
}

// Export shows the plan as JSON or mergekit YAML and offers it as a file.
func (a *App) Export(format string) {
	var text string
	ok := true
	switch format {
	case "json":
		b, err := plan.Marshal(a.Ed.Plan)
		text, ok = string(b), err == nil
		if err != nil {
			text = err.Error()
		}
	case "mergekit":
		y, err := exportMergekit(a.Ed.Plan)
		text, ok = y, err == nil
		if err != nil {
			text = err.Error()
		}
	}
	a.export = &computed{html: text, plan: a.planKey(), scorer: a.Scorer}
	if !ok {
		a.Fail("export %s: %s", format, text)
		return
	}
	if format == "json" {
		a.Download("plan.json", "application/json", text)
	} else {
		a.Download("mergekit.yaml", "application/yaml", text)
	}
}

// OpenPlan replaces the plan by a file's: plan JSON or mergekit YAML (by
// its content).
func (a *App) OpenPlan(name string, data []byte) {
	p, err := openPlan(data, a.Family.Layers)
	if err != nil {
		a.Fail("open %s: %v", name, err)
		return
	}
	a.Ed.Replace(p)
	a.edited()
	a.Status = "opened " + name
}

// UploadScorer sends a scoring module and selects it.
func (a *App) UploadScorer(name string, data []byte) {
	if !a.Connected {
		a.Fail("upload %s: not connected to the server", name)
		return
	}
	a.nextID++
	id := strconv.Itoa(a.nextID)
	hdr, _ := json.Marshal(protocol.UploadHeader{V: protocol.Version, ID: id, Type: protocol.ScorerUpload, Name: name})
	a.pending[id] = func(e *protocol.Envelope) {
		if e.Type == protocol.ReplyError {
			var er protocol.Error
			json.Unmarshal(e.Payload, &er)
			a.Fail("upload %s: %s", name, er.Reason)
			return
		}
		a.selectScorer(name)
	}
	a.TransmitBinary(append(append(hdr, '\n'), data...))
}

// selectScorer makes the server apply scorer name ("": none) from now on.
func (a *App) selectScorer(name string) {
	a.request(protocol.SelectScorer, protocol.SelectScorerRequest{Name: name}, "select the scorer", func(e *protocol.Envelope) {
		var st protocol.State
		json.Unmarshal(e.Payload, &st)
		a.Scorer, a.Scorers = st.Scorer, st.Scorers
		if name == "" {
			a.Status = "no scorer: evaluations and searches judge by the tasks"
		} else {
			a.Status = "scorer " + name + " uploaded and selected"
		}
	})
}

func pct(v float64) string { return plan.Percent(v) }

func atoi(s string) int { n, _ := strconv.Atoi(strings.TrimSpace(s)); return n }
