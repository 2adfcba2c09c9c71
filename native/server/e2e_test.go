package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
)

// uiDir returns a directory with the app: the repo's ui/ when build.sh has
// run, else a fresh build in a temporary directory.
func uiDir(t *testing.T) string {
	repo := filepath.Join("..", "..", "ui")
	if _, err := os.Stat(filepath.Join(repo, "app.wasm")); err == nil {
		if _, err := os.Stat(filepath.Join(repo, "wasm_exec.js")); err == nil {
			return repo
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"index.html", "style.css"} {
		b, _ := os.ReadFile(filepath.Join(repo, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(dir, "app.wasm"), "../../wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the app: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), b, 0o644)
	return dir
}

func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required under CI (.ci/run installs Debian's chromium)")
	}
	t.Skip("no chromium installed (apt-get install chromium)")
	return ""
}

// The app in real headless Chromium: edit a plan (drop a layer, take one
// from a fine-tune, merge two), evaluate it and check the numbers shown
// against the backend's, upload the example scorer, run a short search and
// see trials arrive. A screenshot of the editor is saved.
func TestEndToEndInChromium(t *testing.T) {
	bin := chromium(t)
	s, ts := newServerWith(t, func(c *Config) { c.UIDir, c.Token = uiDir(t), "e2e-token" })

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 1400),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()

	var status string
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			st, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
			t.Fatalf("%s: %v (status %q)", what, err, st)
		}
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return v
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			dbg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("notices").textContent + " | " + (document.getElementById("runs") ? document.getElementById("runs").outerHTML : "no #runs") + " | " + (() => { const r = document.getElementById("list-runs").getBoundingClientRect(); const e = document.elementFromPoint(r.x + r.width/2, r.y + r.height/2); return r.y + " " + (e ? e.outerHTML.slice(0, 80) : "none"); })()`))
			t.Fatalf("%s: %v (status %q; notices, runs: %s)", what, err, text("status"), dbg)
		}
	}
	do("open", chromedp.Navigate(ts.URL+"/?token=e2e-token"), chromedp.WaitVisible(chromedp.ID("take-4-base")))
	// The layer diagnostics arrive after the page: wait for them, so no
	// redraw replaces a button between finding it and clicking it.
	poll("heat strips", `document.querySelectorAll("#diagram rect.heat").length == 40`)
	poll("tasks and weights in the search form", `document.getElementById("task-list").textContent.includes("stories ×1 · code ×1")`)
	do("edit",
		chromedp.Click(chromedp.ID("drop-3")),
		chromedp.Click(chromedp.ID("take-1-math")),
		chromedp.Click(chromedp.ID("toggle-2-code")),
		chromedp.Click(chromedp.ID("toggle-2-docs")))
	if info := text("info"); !strings.Contains(info, "4 slots") || !strings.Contains(info, "17.5% removed") {
		t.Errorf("info after editing: %q", info)
	}
	do("evaluate", chromedp.Click(chromedp.ID("evaluate")), chromedp.WaitVisible(chromedp.ID("eval-table")))
	evalText := text("eval-table")
	// The same plan, evaluated by the backend directly.
	want := &plan.Plan{Version: 1, Slots: []plan.Slot{
		{Take: &plan.Take{Model: "base", Layer: 0}},
		{Take: &plan.Take{Model: "math", Layer: 1}},
		{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 2, Models: []string{"code", "docs"}, Params: plan.Params{Lambda: plan.Ptr(1.0)}}},
		{Take: &plan.Take{Model: "base", Layer: 4}},
	}}
	ev, err := s.ses.Evaluate(context.Background(), session.Target{Plan: want}, 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	ret := ev.Retention
	for i, name := range s.info.Tasks {
		shown := fmt.Sprintf("%.1f%%", 100*ret[i])
		if !strings.Contains(evalText, name) || !strings.Contains(evalText, shown) {
			t.Errorf("task %s: the page shows\n%s\nwant retention %s", name, evalText, shown)
		}
	}
	// The diagram: every source block and slot addressable; drag a block
	// onto a slot to take it, shift-drag to merge, open a plan from disk.
	poll("diagram drawn", `document.querySelectorAll("#diagram g.source[data-model][data-layer]").length == 20 && document.querySelectorAll("#diagram g.slot[data-slot]").length == 4`)
	drag := func(model string, layer, slot int, shift bool) {
		t.Helper()
		js := fmt.Sprintf(`(() => {
			const src = document.querySelector('#diagram g.source[data-model="%s"][data-layer="%d"] rect');
			const dst = document.querySelector('#diagram g.slot[data-slot="%d"] rect');
			src.dispatchEvent(new MouseEvent("mousedown", {bubbles: true}));
			dst.dispatchEvent(new MouseEvent("mouseup", {bubbles: true, shiftKey: %v}));
			return true; })()`, model, layer, slot, shift)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatalf("drag %s[%d] to slot %d: %v", model, layer, slot, err)
		}
	}
	drag("code", 3, 3, false)
	poll("slot panel", `document.getElementById("slot-recipe") && document.getElementById("slot-recipe").textContent == "code[3]"`)
	poll("take by drag", `document.querySelector('#diagram g.slot[data-slot="3"] title').textContent == "slot 3: code[3]"`)
	drag("docs", 1, 1, true)
	poll("merge by shift-drag", `document.querySelector('#diagram g.slot[data-slot="1"] title').textContent.startsWith("slot 1: task_arithmetic(math+docs)[1]")`)
	// The side panel edits the selected merge: λ, then a model's weight.
	setValue := func(sel, v string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, sel, v)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatalf("set %s: %v", sel, err)
		}
	}
	poll("panel of the merge", `document.getElementById("panel-method") != null`)
	setValue("#panel-lambda", "0.25")
	poll("λ edited", `document.getElementById("slot-recipe").textContent.includes("λ=0.25")`)
	setValue(`input[data-action="weight:1:1"]`, "0.4")
	poll("weight edited", `document.getElementById("slot-recipe").textContent.includes("weights=[1 0.4]")`)
	// Sub-blocks: the merge's MLP taken from code's layer 1 instead.
	setValue("#panel-mlp", "take:code")
	poll("MLP from another model", `document.getElementById("slot-recipe").textContent.endsWith("· mlp: code[1]") && document.querySelector('#diagram path.link[data-from-model="code"][data-from-layer="1"][data-to-slot="1"]') != null`)
	drag("docs", 4, 1, true) // another layer cannot join the merge: refused, said
	poll("refused drop, said in a notice", `document.getElementById("notices").textContent.includes("cannot join it")`)
	do("dismiss the notice", chromedp.Click(`#notices button[data-action^="dismiss:"]`))
	poll("notice dismissed", `document.querySelectorAll("#notices .notice").length == 0`)
	planFile := filepath.Join(t.TempDir(), "three.json")
	os.WriteFile(planFile, []byte(`{"version":1,"slots":[{"take":["base",0]},{"take":["code",1]},{"take":["base",4]}]}`), 0o644)
	do("open a plan", chromedp.SetUploadFiles(chromedp.ID("open-plan"), []string{planFile}))
	poll("opened", `document.getElementById("diagram-info").textContent.startsWith("3 slots")`)
	skeleton, _ := filepath.Abs(filepath.Join("..", "scorer", "examples", "wat", "skeleton.wasm"))
	do("upload scorer", chromedp.SetUploadFiles(chromedp.ID("upload"), []string{skeleton}))
	poll("scorer selected", `document.getElementById("status").textContent.includes("uploaded and selected")`)
	do("evaluate with the scorer", chromedp.Click(chromedp.ID("evaluate")), chromedp.WaitVisible(chromedp.ID("score")))
	if score := text("score"); score != "1" {
		t.Errorf("scorer result shown: %q", score)
	}
	do("search", chromedp.SetValue(chromedp.ID("trial-budget"), "4"), chromedp.Click(chromedp.ID("start-search")))
	poll("trials arrive", `document.querySelectorAll("#trials tr.trial").length >= 4`)
	poll("charts with axes and legends", `document.querySelector("#chart .xlabel").textContent == "trial" && document.querySelectorAll("#chart text.legend").length >= 1`)
	poll("search finished", `/^search \S+ finished/.test(document.getElementById("status").textContent)`)
	do("click a chart point", chromedp.Click(`#chart circle.point[data-trial="1"]`))
	poll("its trial opened", `document.getElementById("trial-detail") && document.getElementById("trial-detail").getAttribute("data-trial") == "1" && document.querySelectorAll("#trial-detail li").length >= 1`)
	do("sort by trial", chromedp.Click(`#trials th[data-action="sort:trial"]`))
	poll("sorted", `document.querySelector("#trials tr.trial").getAttribute("data-trial") == "0"`)
	do("compare two trials", chromedp.Click(`#trials tr.trial[data-trial="0"] button[data-action="compare:0"]`),
		chromedp.Click(`#trials tr.trial[data-trial="1"] button[data-action="compare:1"]`))
	poll("compared", `document.querySelectorAll("#compare tr").length >= 5`)
	do("list runs", chromedp.Click(chromedp.ID("list-runs")))
	poll("runs listed", `document.querySelectorAll("#runs tr[data-run]").length == 1`)
	do("open the run", chromedp.Click(`#runs button[data-action^="open-run:"]`))
	poll("run opened", `document.getElementById("status").textContent.startsWith("opened run") && document.querySelectorAll("#trials tr.trial").length == 4 && document.querySelector("#results") != null`)
	poll("retention bars and genes", `document.querySelectorAll("#retention-bars rect.rbar").length >= 8 && document.querySelectorAll("#parallel polyline.gene").length >= 1`)
	status = text("status")
	t.Logf("status after the search: %s", status)
	do("build", chromedp.SetValue(chromedp.ID("build-name"), "e2e"), chromedp.Click(chromedp.ID("build")))
	poll("built", `document.getElementById("status").textContent.startsWith("built ")`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("GPTAILOR_E2E_OUT")
	if out == "" {
		out = filepath.Join(os.TempDir(), "gptailor-e2e")
	}
	os.MkdirAll(out, 0o755)
	shot := filepath.Join(out, "editor.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}
