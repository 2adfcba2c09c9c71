//go:build js && wasm

// Command wasm is gptailor's browser app, compiled with GOOS=js
// GOARCH=wasm. It is glue only: the app's state and every edit, request
// and view live in shared/editor (tested natively); this binds the
// websocket and the page's events to an editor.App and writes the HTML its
// Views return into the page. The only hand-written JavaScript is the
// loader in index.html.
package main

import (
	"strconv"
	"syscall/js"

	"github.com/gptailor/gptailor/shared/editor"
)

var (
	doc   = js.Global().Get("document")
	app   = editor.NewApp()
	ws    js.Value
	shown = map[string]string{} // what each element holds now
	dirty bool
)

func el(id string) js.Value { return doc.Call("getElementById", id) }

// form reads the page's fields for the app.
type form struct{}

func (form) Value(id string) string {
	if e := el(id); !e.IsNull() {
		return e.Get("value").String()
	}
	return ""
}

func (form) Checked(id string) bool {
	e := el(id)
	return !e.IsNull() && e.Get("checked").Bool()
}

func main() {
	app.Now = func() float64 { return js.Global().Get("Date").Call("now").Float() }
	app.Download = download
	app.Transmit = func(b []byte) { ws.Call("send", string(b)) }
	app.TransmitBinary = func(b []byte) {
		out := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(out, b)
		ws.Call("send", out)
	}
	u := js.Global().Get("location")
	scheme := "ws://"
	if u.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	ws = js.Global().Get("WebSocket").New(scheme + u.Get("host").String() + "/ws")
	on(ws, "open", false, func(js.Value) { app.Opened() })
	on(ws, "close", false, func(js.Value) { app.Closed() })
	on(ws, "message", false, func(e js.Value) { app.Receive([]byte(e.Get("data").String())) })
	on(doc, "click", true, onClick)
	on(doc, "change", false, onChange) // drawn after the focus moved to the next field
	on(doc, "mousedown", true, onMouseDown)
	on(doc, "mouseup", true, onMouseUp)
	on(doc, "keydown", true, onKey)
	doc.Call("addEventListener", "mousemove", js.FuncOf(func(_ js.Value, args []js.Value) any {
		moveGhost(args[0])
		return nil
	}))
	render()
	select {}
}

// on binds an event to f and renders after it: at once (now) or at the
// next animation frame.
func on(target js.Value, event string, now bool, f func(js.Value)) {
	target.Call("addEventListener", event, js.FuncOf(func(_ js.Value, args []js.Value) any {
		f(args[0])
		if now {
			render()
		} else {
			scheduleRender()
		}
		return nil
	}))
}

// attr reads a data attribute of the event's target or its nearest
// ancestor that has it (an SVG block's group).
func attr(t js.Value, name string) (string, bool) {
	for n := t; !n.IsNull() && !n.IsUndefined(); n = n.Get("parentNode") {
		if n.Get("getAttribute").IsUndefined() {
			return "", false
		}
		if v := n.Call("getAttribute", name); !v.IsNull() {
			return v.String(), true
		}
	}
	return "", false
}

func onClick(e js.Value) {
	if a := e.Get("target").Call("getAttribute", "data-action"); !a.IsNull() {
		app.Click(a.String(), form{})
	}
}

func onChange(e js.Value) {
	t := e.Get("target")
	a := t.Call("getAttribute", "data-action")
	if a.IsNull() {
		return
	}
	switch a.String() {
	case "open-plan", "upload":
		readFile(t, a.String())
	default:
		app.Change(a.String(), t.Get("value").String())
	}
}

// onMouseDown starts a drag: of a source block (to take or merge it) or of
// a slot (to reorder).
func onMouseDown(e js.Value) {
	t := e.Get("target")
	if m, ok := attr(t, "data-model"); ok {
		l, _ := attr(t, "data-layer")
		n, _ := strconv.Atoi(l)
		app.DragSource(m, n)
		e.Call("preventDefault")
	} else if s, ok := attr(t, "data-slot"); ok {
		n, _ := strconv.Atoi(s)
		app.DragSlot(n)
		e.Call("preventDefault")
	}
	if app.Dragging() {
		doc.Get("body").Get("classList").Call("add", "dragging")
		g := doc.Call("createElement", "div")
		g.Set("id", "drag-ghost")
		g.Set("textContent", app.DragLabel())
		doc.Get("body").Call("appendChild", g)
		moveGhost(e)
	}
}

// moveGhost keeps the dragged block's label beside the pointer.
func moveGhost(e js.Value) {
	if g := el("drag-ghost"); !g.IsNull() {
		g.Get("style").Set("left", strconv.Itoa(e.Get("clientX").Int()+12)+"px")
		g.Get("style").Set("top", strconv.Itoa(e.Get("clientY").Int()+12)+"px")
	}
}

func onMouseUp(e js.Value) {
	doc.Get("body").Get("classList").Call("remove", "dragging")
	if g := el("drag-ghost"); !g.IsNull() {
		g.Call("remove")
	}
	if !app.Dragging() {
		return
	}
	slot := -1
	if s, ok := attr(e.Get("target"), "data-slot"); ok {
		slot, _ = strconv.Atoi(s)
	}
	app.DropOn(slot, e.Get("shiftKey").Bool())
}

func onKey(e js.Value) {
	switch e.Get("target").Get("tagName").String() {
	case "INPUT", "SELECT", "TEXTAREA":
		return
	}
	ctrl := e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool()
	if app.Key(e.Get("key").String(), e.Get("altKey").Bool(), ctrl, e.Get("shiftKey").Bool()) {
		e.Call("preventDefault")
	}
}

// readFile hands the chosen file to the app: a plan to open or a scorer
// to upload.
func readFile(input js.Value, action string) {
	files := input.Get("files")
	if files.Length() == 0 {
		return
	}
	f := files.Index(0)
	name := f.Get("name").String()
	f.Call("arrayBuffer").Call("then", js.FuncOf(func(_ js.Value, a []js.Value) any {
		buf := js.Global().Get("Uint8Array").New(a[0])
		data := make([]byte, buf.Length())
		js.CopyBytesToGo(data, buf)
		if action == "open-plan" {
			app.OpenPlan(name, data)
		} else {
			app.UploadScorer(name, data)
		}
		scheduleRender()
		return nil
	}))
}

// scheduleRender coalesces renders to one per animation frame: a search
// streaming hundreds of trials keeps the page responsive, and a field
// changed by leaving it for another is redrawn after the focus moved, so
// the focus is kept (render).
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

// render writes every view whose HTML changed; the focused field (by id)
// gets the focus back, with its caret, when its region was redrawn.
func render() {
	active := doc.Get("activeElement")
	focusID := ""
	var start, end js.Value
	if !active.IsNull() && active.Get("id").Type() == js.TypeString {
		focusID = active.Get("id").String()
		start, end = active.Get("selectionStart"), active.Get("selectionEnd")
	}
	for id, h := range app.Views() {
		if shown[id] == h {
			continue
		}
		if e := el(id); !e.IsNull() {
			if id == "status" || id == "task-list" {
				e.Set("textContent", h)
			} else {
				e.Set("innerHTML", h)
			}
			shown[id] = h
		}
	}
	if focusID != "" {
		if e := el(focusID); !e.IsNull() && !e.Equal(active) {
			e.Call("focus")
			if !start.IsNull() && !start.IsUndefined() {
				e.Call("setSelectionRange", start, end)
			}
		}
	}
	if app.ScrollTo != "" {
		if e := el(app.ScrollTo); !e.IsNull() {
			e.Call("scrollIntoView")
		}
		app.ScrollTo = ""
	}
}

// download offers text as a file.
func download(name, mime, text string) {
	blob := js.Global().Get("Blob").New(js.ValueOf([]any{text}), map[string]any{"type": mime})
	url := js.Global().Get("URL").Call("createObjectURL", blob)
	a := doc.Call("createElement", "a")
	a.Set("href", url)
	a.Set("download", name)
	a.Set("id", "download-link")
	doc.Get("body").Call("appendChild", a)
	a.Call("click")
	a.Call("remove")
	js.Global().Get("URL").Call("revokeObjectURL", url)
}
