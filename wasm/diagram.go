//go:build js && wasm

package main

import (
	"bytes"
	"fmt"
	"strings"
	"syscall/js"

	"github.com/gptailor/gptailor/shared/editor"
	"github.com/gptailor/gptailor/shared/mergekit"
	"github.com/gptailor/gptailor/shared/plan"
)

// attr reads a data attribute of the event's target (or its group).
func attr(t js.Value, name string) (string, bool) {
	for n := t; !n.IsNull() && !n.IsUndefined(); n = n.Get("parentNode") {
		if n.Get("getAttribute").IsUndefined() {
			return "", false
		}
		if v := n.Call("getAttribute", name); !v.IsNull() {
			return v.String(), true
		}
		if id := n.Get("id"); id.Type() == js.TypeString && id.String() == "diagram-svg" {
			return "", false
		}
	}
	return "", false
}

// onMouseDown starts a drag: of a source block (to take or merge it) or of
// a slot (to reorder).
func onMouseDown(_ js.Value, args []js.Value) any {
	t := args[0].Get("target")
	if m, ok := attr(t, "data-model"); ok {
		l, _ := attr(t, "data-layer")
		dragSrc = &dragSource{model: m, layer: atoi(l)}
		args[0].Call("preventDefault")
		return nil
	}
	if sl, ok := attr(t, "data-slot"); ok {
		dragSlot = atoi(sl)
		args[0].Call("preventDefault")
	}
	return nil
}

// onMouseUp ends a drag on a slot: a source block dropped takes that layer
// (shift: joins the slot's merge); a slot dropped on another moves there;
// a slot released on itself is selected.
func onMouseUp(_ js.Value, args []js.Value) any {
	t := args[0].Get("target")
	src, from := dragSrc, dragSlot
	dragSrc, dragSlot = nil, -1
	sl, ok := attr(t, "data-slot")
	if !ok {
		return nil
	}
	slot := atoi(sl)
	switch {
	case src != nil:
		add := args[0].Get("shiftKey").Bool()
		trial := clonePlan(current)
		if err := editor.Drop(trial, slot, src.model, src.layer, add); err != nil {
			status = err.Error()
			render()
			return nil
		}
		edit(func() { current, selected = trial, slot })
		status = fmt.Sprintf("slot %d: %s", slot, strings.TrimSpace(current.Slots[slot].Describe()))
		render()
	case from >= 0 && from != slot:
		edit(func() {
			editor.Move(current, from, slot)
			selected = slot
		})
	case from == slot:
		selected = slot
		render()
	}
	return nil
}

// onKey: with a slot selected, ↑/↓ select the neighbour, alt+↑/↓ move the
// slot, Delete removes it, Escape clears the selection.
func onKey(_ js.Value, args []js.Value) any {
	e := args[0]
	if selected < 0 || selected >= len(current.Slots) {
		return nil
	}
	if tag := e.Get("target").Get("tagName").String(); tag == "INPUT" || tag == "SELECT" || tag == "TEXTAREA" {
		return nil
	}
	switch key, alt := e.Get("key").String(), e.Get("altKey").Bool(); {
	case key == "ArrowUp" && alt && selected > 0:
		edit(func() { editor.Move(current, selected, selected-1); selected-- })
	case key == "ArrowDown" && alt && selected+1 < len(current.Slots):
		edit(func() { editor.Move(current, selected, selected+1); selected++ })
	case key == "ArrowUp" && selected > 0:
		selected--
		render()
	case key == "ArrowDown" && selected+1 < len(current.Slots):
		selected++
		render()
	case key == "Delete" || key == "Backspace":
		edit(func() {
			current.Slots = append(current.Slots[:selected], current.Slots[selected+1:]...)
			selected = min(selected, len(current.Slots)-1)
		})
	case key == "Escape":
		selected = -1
		render()
	default:
		return nil
	}
	e.Call("preventDefault")
	return nil
}

func clonePlan(p *plan.Plan) *plan.Plan {
	b, _ := plan.Marshal(p)
	q, err := plan.Parse(b)
	if err != nil {
		return p
	}
	return q
}

// openPlan reads a plan JSON or a mergekit YAML (by its content).
func openPlan(name string, data []byte) (*plan.Plan, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return plan.Parse(data)
	}
	return mergekit.Import(data, func(string) (int, error) { return family.Layers, nil })
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
