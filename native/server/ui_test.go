package server

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gptailor/gptailor/shared/plan"
)

// browser is headless Chromium at width×height on the app served by a
// fresh server whose current plan is p; it returns the server, a run
// helper and a poll helper that fail the test with the page's state.
func browser(t *testing.T, width, height int, p *plan.Plan) (*Server, context.Context, func(string, ...chromedp.Action[chromedp.Void]), func(string, string)) {
	bin := chromium(t)
	s, ts := newServerWith(t, func(c *Config) { c.UIDir, c.Token = uiDir(t), "ui-token" })
	s.mu.Lock()
	s.current = p
	s.mu.Unlock()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancel)
	state := func() string {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent + " | notices: " + document.getElementById("notices").textContent + " | focus: " + (document.activeElement ? document.activeElement.tagName + "#" + document.activeElement.id : "")`))
		return v
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, state())
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, state())
		}
	}
	do("open", chromedp.Navigate(ts.URL+"/?token=ui-token"), chromedp.WaitVisible(chromedp.ID("take-0-base")))
	poll("heat strips", `document.querySelectorAll("#diagram rect.heat").length == 40`)
	return s, ctx, do, poll
}

// Real mouse and keyboard in the side panel: type λ, click density and
// type there, Tab — both values kept and the focus stays in the panel
// (each change used to redraw the panel and drop the field clicked).
// Then a reload shows the plan as edited (the server keeps it).
func TestPanelKeepsTypingAndReloadKeepsThePlan(t *testing.T) {
	p := demoTiesPlan()
	_, _, do, poll := browser(t, 1440, 900, p)
	do("select the merge", chromedp.Click(`button[data-action="select:2"]`))
	poll("panel", `document.getElementById("panel-density") != null`)
	selectAll := chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`)
	do("type λ", chromedp.Click(chromedp.ID("panel-lambda")), selectAll, chromedp.KeyEvent("0.25"))
	do("type density", chromedp.Click(chromedp.ID("panel-density")), selectAll, chromedp.KeyEvent("0.7"), chromedp.KeyEvent(kb.Tab))
	poll("both kept", `document.getElementById("slot-recipe").textContent.includes("λ=0.25") && document.getElementById("slot-recipe").textContent.includes("density=0.7")`)
	poll("the focus stays in the panel", `document.activeElement && document.activeElement.id == "panel-weight-0"`)
	do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("take-0-base")))
	poll("the plan survives a reload", `document.getElementById("slot-2") && document.querySelector("#slot-2 td.recipe").textContent.includes("density=0.7")`)
}

// An error is a notice that stays in view however far the page is
// scrolled, until dismissed; a refused search leaves the page's results.
// An evaluation greys out when the plan changes.
func TestErrorsVisibleAndResultsStale(t *testing.T) {
	_, _, do, poll := browser(t, 900, 700, nil)
	do("evaluate", chromedp.Click(chromedp.ID("evaluate")), chromedp.WaitVisible(chromedp.ID("eval-table")))
	poll("fresh", `document.querySelector("#eval .current") != null`)
	do("edit", chromedp.Click(chromedp.ID("drop-4")))
	poll("stale after an edit", `document.querySelector("#eval .stale #eval-table") != null && document.querySelector("#eval .stale-note").textContent.includes("plan has changed")`)
	do("refused search", chromedp.SetValue(chromedp.ID("min-budget"), "9"), chromedp.SetValue(chromedp.ID("max-budget"), "3"),
		chromedp.Click(chromedp.ID("start-search")))
	visible := `(() => { const n = document.querySelector("#notices .notice.error"); if (!n) return false; const r = n.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight && n.textContent.includes("larger than the largest"); })()`
	poll("the error in view", visible)
	do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	poll("still in view", visible)
	poll("the evaluation is still there", `document.getElementById("eval-table") != null`)
	do("dismiss", chromedp.Click(`#notices button[data-action^="dismiss:"]`))
	poll("dismissed", `document.querySelector("#notices .notice") == null`)
}

func demoTiesPlan() *plan.Plan {
	p := &plan.Plan{Version: 1}
	for i := 0; i < 5; i++ {
		p.Slots = append(p.Slots, plan.Slot{Take: &plan.Take{Model: "base", Layer: i}})
	}
	p.Slots[2] = plan.Slot{Merge: &plan.Merge{Method: "ties", Layer: 2, Models: []string{"code", "docs"}, Params: plan.Params{Lambda: plan.Ptr(1.0), Density: plan.Ptr(0.5)}}}
	return p
}

// At 900 px the whole diagram fits (no sideways scrolling, the tailored
// column in view), and a real mouse drag shows what is dragged and where
// it can go, takes the layer on release over a slot, and says so when
// released elsewhere.
func TestDragAt900px(t *testing.T) {
	_, ctx, do, poll := browser(t, 900, 700, nil)
	do("scroll", chromedp.Evaluate[chromedp.Void](`document.getElementById("diagram").scrollIntoView()`))
	poll("the diagram fits", `(() => { const r = document.getElementById("diagram-svg").getBoundingClientRect(); return r.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth && document.querySelector('#diagram g.slot[data-slot="3"] rect').getBoundingClientRect().right <= window.innerWidth; })()`)
	center := func(sel string) (float64, float64) {
		t.Helper()
		xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector('`+sel+`').getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
		if err != nil || len(xy) != 2 {
			t.Fatalf("where is %s: %v", sel, err)
		}
		return xy[0], xy[1]
	}
	sx, sy := center(`#diagram g.source[data-model="code"][data-layer="3"] rect`)
	dx, dy := center(`#diagram g.slot[data-slot="3"] rect`)
	do("press on code[3] and move", chromedp.MouseEvent(chromedp.MousePressed, sx, sy, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, (sx+dx)/2, (sy+dy)/2, chromedp.ButtonLeft))
	poll("feedback while dragging", `document.body.classList.contains("dragging") && document.getElementById("drag-ghost") && document.getElementById("drag-ghost").textContent.startsWith("code[3]")`)
	do("release on slot 3", chromedp.MouseEvent(chromedp.MouseMoved, dx, dy, chromedp.ButtonLeft), chromedp.MouseEvent(chromedp.MouseReleased, dx, dy, chromedp.ButtonLeft))
	poll("taken", `document.querySelector('#diagram g.slot[data-slot="3"] title').textContent == "slot 3: code[3]" && !document.body.classList.contains("dragging") && !document.getElementById("drag-ghost")`)
	sx, sy = center(`#diagram g.source[data-model="docs"][data-layer="1"] rect`)
	do("a missed drop", chromedp.MouseEvent(chromedp.MousePressed, sx, sy, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, sx, 5, chromedp.ButtonLeft), chromedp.MouseEvent(chromedp.MouseReleased, sx, 5, chromedp.ButtonLeft))
	poll("said", `document.getElementById("status").textContent.startsWith("drop cancelled")`)
}
