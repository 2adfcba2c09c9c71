package editor

import (
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// fakeServer records what the app sends and answers it by hand.
type fakeServer struct {
	t    *testing.T
	app  *App
	sent []*protocol.Envelope
}

func newFake(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, app: NewApp()}
	f.app.Transmit = func(b []byte) {
		e, err := protocol.Decode(b)
		if err != nil {
			t.Fatalf("the app sent an invalid message %s: %v", b, err)
		}
		f.sent = append(f.sent, e)
	}
	return f
}

// last is the last message of type typ the app sent.
func (f *fakeServer) last(typ string) *protocol.Envelope {
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Type == typ {
			return f.sent[i]
		}
	}
	f.t.Fatalf("the app sent no %s (sent %d messages)", typ, len(f.sent))
	return nil
}

func (f *fakeServer) reply(to *protocol.Envelope, typ string, payload any) {
	b, err := protocol.Encode(to.ID, typ, payload)
	if err != nil {
		f.t.Fatal(err)
	}
	f.app.Receive(b)
}

var family = protocol.FamilyInfo{Models: []string{"base", "code", "docs", "math"}, Layers: 5, LayerParams: 1000, OuterParams: 500, Tasks: []string{"stories", "code"}}

// connect opens the app against a server whose current plan is p (nil: none).
func (f *fakeServer) connect(p *plan.Plan) {
	f.app.Opened()
	f.reply(f.last(protocol.Hello), protocol.ReplyState, protocol.State{Version: 1, Family: family, Plan: p, Scorers: []string{}})
}

type fields map[string]string

func (m fields) Value(id string) string { return m[id] }
func (m fields) Checked(id string) bool { return m[id] == "true" }

// A reload starts from the plan the server keeps, and every edit sends
// the new plan (plan.put).
func TestAppKeepsThePlanOnTheServer(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	if got := recipes(f.app.Ed.Plan); got != recipes(demoPlan()) {
		t.Fatalf("after hello the editor shows %s, the server's plan is %s", got, recipes(demoPlan()))
	}
	f.app.Click("drop:3", fields{})
	var put protocol.PlanPayload
	if err := f.last(protocol.PutPlan).Into(&put); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(put.Plan)
	if err != nil || len(p.Slots) != 3 {
		t.Fatalf("plan.put carries %s (%v), want the 3-slot plan", put.Plan, err)
	}
	// Without a plan on the server: the base, layer by layer.
	g := newFake(t)
	g.connect(nil)
	if got := recipes(g.app.Ed.Plan); got != "base[0] | base[1] | base[2] | base[3] | base[4]" {
		t.Errorf("a fresh session edits %s", got)
	}
}

// An evaluation is shown for the plan it was computed for; after an edit
// it is marked stale (greyed, with the reason), and current again after
// undo.
func TestEvaluationGoesStale(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	f.app.Click("evaluate", fields{"samples": "2"})
	var req protocol.EvaluateRequest
	ev := f.last(protocol.Evaluate)
	ev.Into(&req)
	if req.Samples != 2 {
		t.Errorf("evaluate asks for %d samples", req.Samples)
	}
	f.reply(ev, protocol.ReplyEvaluate, protocol.EvaluateResult{Samples: 2, Objective: 0.9, ObjectiveName: "min retention",
		Tasks: []protocol.TaskResult{{Name: "stories", Primary: "acc", Retention: 0.9}}})
	if v := f.app.Views()["eval"]; !strings.Contains(v, `class="current"`) || strings.Contains(v, "stale") {
		t.Fatalf("a fresh evaluation: %s", v)
	}
	f.app.Click("toggle:1:code", fields{})
	if v := f.app.Views()["eval"]; !strings.Contains(v, `class="stale"`) || !strings.Contains(v, "the plan has changed") {
		t.Fatalf("after an edit the evaluation is not marked stale: %s", v)
	}
	f.app.Click("undo", fields{})
	if v := f.app.Views()["eval"]; strings.Contains(v, "stale") {
		t.Fatalf("after undo the plan is the evaluated one again: %s", v)
	}
	f.app.Export("json")
	f.app.Click("drop:0", fields{})
	if v := f.app.Views()["export"]; !strings.Contains(v, "earlier plan") {
		t.Errorf("the export text after an edit is not marked stale: %s", v)
	}
}

// A refused search start leaves the dashboard as it was and says why in a
// notice that stays until dismissed; a form the server could not run is
// refused before sending.
func TestRefusedSearchKeepsTheDashboard(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	obj := 0.8
	f.app.Receive(mustEncode(t, protocol.EventTrial, protocol.TrialEvent{Trial: protocol.Trial{Index: 0, Samples: 3, Objective: &obj}}))
	form := fields{"trial-budget": "10", "remove": "1", "run-name": "taken"}
	f.app.Click("search", form)
	f.reply(f.last(protocol.SearchStart), protocol.ReplyError, protocol.Error{Reason: `run directory "taken" exists: resume it or pick another name`})
	if len(f.app.Trials) != 1 {
		t.Errorf("a refused start wiped the trials: %d left", len(f.app.Trials))
	}
	n := f.app.Views()["notices"]
	if !strings.Contains(n, "taken") || !strings.Contains(n, `class="notice error"`) {
		t.Fatalf("no error notice: %q", n)
	}
	f.app.Status = "something else happened"
	if !strings.Contains(f.app.Views()["notices"], "taken") {
		t.Error("the notice went away by itself")
	}
	f.app.Click("dismiss:1", fields{})
	if f.app.Views()["notices"] != "" {
		t.Error("dismissed notice still shown")
	}
	sent := len(f.sent)
	f.app.Click("search", fields{"trial-budget": "0"})
	f.app.Click("search", fields{"trial-budget": "5", "min-budget": "9", "max-budget": "3"})
	if len(f.sent) != sent || len(f.app.Notices) != 2 {
		t.Errorf("trials 0 or min budget > max: %d messages sent, notices %v", len(f.sent)-sent, f.app.Notices)
	}
}

// Disconnected, a request fails at once (no "evaluating…" forever), and
// one in flight when the connection closes fails too.
func TestDisconnectFailsRequests(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	f.app.Click("evaluate", fields{"samples": "2"})
	f.app.Closed()
	if f.app.Status == "evaluating…" || !strings.Contains(f.app.Views()["notices"], "closed before the reply") {
		t.Errorf("in flight at close: status %q, notices %q", f.app.Status, f.app.Views()["notices"])
	}
	n := len(f.app.Notices)
	f.app.Click("evaluate", fields{"samples": "2"})
	if f.app.Status == "evaluating…" || len(f.app.Notices) != n+1 {
		t.Errorf("evaluate while disconnected: status %q, notices %v", f.app.Status, f.app.Notices)
	}
	if !strings.Contains(f.app.Views()["statusbar"], "disconnected") {
		t.Error("the status bar does not say disconnected")
	}
}

// The scorer the server applies is shown, and can be deselected.
func TestScorerVisibleAndDeselectable(t *testing.T) {
	f := newFake(t)
	f.app.Opened()
	f.reply(f.last(protocol.Hello), protocol.ReplyState, protocol.State{Version: 1, Family: family, Scorer: "skeleton.wasm", Scorers: []string{"skeleton.wasm"}})
	bar := f.app.Views()["statusbar"]
	if !strings.Contains(bar, "scorer skeleton.wasm") || !strings.Contains(bar, `data-action="no-scorer"`) {
		t.Fatalf("status bar: %s", bar)
	}
	f.app.Click("no-scorer", fields{})
	var req protocol.SelectScorerRequest
	sel := f.last(protocol.SelectScorer)
	sel.Into(&req)
	if req.Name != "" {
		t.Errorf("deselect sends %q", req.Name)
	}
	f.reply(sel, protocol.ListScorers, protocol.State{Scorers: []string{"skeleton.wasm"}})
	if bar := f.app.Views()["statusbar"]; !strings.Contains(bar, "no scorer") {
		t.Errorf("after deselecting: %s", bar)
	}
}

func mustEncode(t *testing.T, typ string, payload any) []byte {
	b, err := protocol.Encode("", typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The status line's number is the result table's winner (not the best
// trial at any budget), a stop is said as a stop, and a shown runs list
// is refreshed when a search ends.
func TestSearchEndSaidRight(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	f.app.Click("runs", fields{})
	f.reply(f.last(protocol.RunsList), protocol.RunsList, []protocol.RunInfo{{Name: "r1", Trials: 3, Target: 60}})
	lists := 0
	for _, e := range f.sent {
		if e.Type == protocol.RunsList {
			lists++
		}
	}
	rows := []protocol.ResultRow{{Kind: "search", Name: "winner", Objective: 0.69}, {Kind: "shortgpt", Name: "ShortGPT", Objective: 0.6}}
	f.app.Receive(mustEncode(t, protocol.SearchStatus, protocol.Status{Run: "r1", Trials: 60, Best: 0.702, Rows: rows}))
	if !strings.Contains(f.app.Status, "r1 finished") || !strings.Contains(f.app.Status, "69%") || strings.Contains(f.app.Status, "70") {
		t.Errorf("finished: %q", f.app.Status)
	}
	n := 0
	for _, e := range f.sent {
		if e.Type == protocol.RunsList {
			n++
		}
	}
	if n != lists+1 {
		t.Errorf("the runs list was not refreshed when the search ended")
	}
	if !strings.Contains(f.app.Views()["statusbar"], "run r1") {
		t.Errorf("the status bar does not name the run shown: %s", f.app.Views()["statusbar"])
	}
	f.app.Click("stop", fields{})
	f.reply(f.last(protocol.SearchStop), protocol.SearchStatus, protocol.Status{Running: true, Run: "r2", Trials: 22})
	f.app.Receive(mustEncode(t, protocol.SearchStatus, protocol.Status{Run: "r2", Trials: 22}))
	if !strings.Contains(f.app.Status, "r2 stopped after 22 trials") {
		t.Errorf("stopped: %q", f.app.Status)
	}
}

// A chart point opens its trial: budget, objective, per task, its slots,
// with load and compare; load puts its plan in the editor.
func TestChartPointOpensTrial(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	obj := 0.8
	tp := &plan.Plan{Version: 1, Slots: []plan.Slot{{Take: &plan.Take{Model: "code", Layer: 0}}, {Take: &plan.Take{Model: "base", Layer: 2}}}}
	f.app.Receive(mustEncode(t, protocol.EventTrial, protocol.TrialEvent{Trial: protocol.Trial{Index: 7, Samples: 9, Objective: &obj, Retention: []float64{0.8, 0.9}}, Plan: tp}))
	search := f.app.Views()["search"]
	if !strings.Contains(search, `data-action="open-trial:7"`) {
		t.Fatal("the objective chart's point has no action")
	}
	f.app.Click("open-trial:7", fields{})
	d := f.app.Views()["search"]
	for _, want := range []string{`id="trial-detail"`, "Trial 7", "budget 9 samples", "objective 80%", "code 90%", "<li>code[0]</li>", `data-action="load:7"`} {
		if !strings.Contains(d, want) {
			t.Errorf("trial detail lacks %q", want)
		}
	}
	f.app.Click("load:7", fields{})
	if got := recipes(f.app.Ed.Plan); got != "code[0] | base[2]" {
		t.Errorf("loaded %s", got)
	}
}

// The keyboard: Ctrl+Z/Ctrl+Y (and Ctrl+Shift+Z), and with a slot
// selected alt+↓ moves it and Delete removes it.
func TestKeyboard(t *testing.T) {
	f := newFake(t)
	f.connect(demoPlan())
	start := recipes(f.app.Ed.Plan)
	f.app.Click("select:0", fields{})
	if !f.app.Key("ArrowDown", true, false, false) || recipes(f.app.Ed.Plan) != "math[1] | base[0] | task_arithmetic(code+docs)[2] λ=0.5 | base[4]" || f.app.Ed.Selected != 1 {
		t.Fatalf("alt+↓: %s, selected %d", recipes(f.app.Ed.Plan), f.app.Ed.Selected)
	}
	f.app.Key("Delete", false, false, false)
	moved := recipes(f.app.Ed.Plan)
	if moved != "math[1] | task_arithmetic(code+docs)[2] λ=0.5 | base[4]" {
		t.Fatalf("Delete: %s", moved)
	}
	f.app.Key("z", false, true, false)
	f.app.Key("z", false, true, false)
	if got := recipes(f.app.Ed.Plan); got != start {
		t.Errorf("ctrl+z twice: %s, want %s", got, start)
	}
	f.app.Key("y", false, true, false)
	f.app.Key("Z", false, true, true)
	if got := recipes(f.app.Ed.Plan); got != moved {
		t.Errorf("ctrl+y, ctrl+shift+z: %s, want %s", got, moved)
	}
}
