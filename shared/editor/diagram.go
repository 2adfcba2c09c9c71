// Package editor holds the plan editor's logic shared by the browser app
// and the server: the plan diagram (one column of layer blocks per family
// model, the tailored stack as the output column, a curve from every
// source block to the slot that uses it) drawn as SVG, and the edits a
// drag and drop makes. No OS, no syscall/js: it is tested natively.
package editor

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// Colors per family model, base first.
var Colors = []string{"#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"}

// Diagnostics are per-layer importance figures of each model, one strip
// each (e.g. ShortGPT's block influence, the angular distance across the
// layer): higher means the layer changes more, lower means it is cheap to
// cut. Absent models or layers are not drawn.
type Diagnostics struct {
	Strips []Strip `json:"strips"`
}

// Strip is one figure per layer of each model.
type Strip struct {
	Name   string               `json:"name"`   // what the figure is
	Layers map[string][]float64 `json:"layers"` // model -> per layer
}

// Geometry of the diagram, in SVG user units.
const (
	blockW, blockH = 70.0, 22.0
	colGap, rowGap = 34.0, 6.0
	top, left      = 56.0, 20.0
	outGap         = 150.0 // between the last model column and the output column
	slotW          = 210.0
	stripW         = 6.0
)

// uses is which slots use a source block, by "model/layer": every
// sub-block's source counts (a slot taking its MLP from another model
// draws a curve from there too).
func uses(p *plan.Plan) map[string][]int {
	out := map[string][]int{}
	add := func(k string, i int) {
		if l := out[k]; len(l) == 0 || l[len(l)-1] != i {
			out[k] = append(out[k], i)
		}
	}
	for i, s := range p.Slots {
		attn, mlp := s.Blocks()
		for _, pt := range []plan.Part{attn, mlp} {
			switch {
			case pt.Take != nil:
				add(fmt.Sprintf("%s/%d", pt.Take.Model, pt.Take.Layer), i)
			case pt.Merge != nil:
				for _, m := range mergeModels(pt.Merge) {
					add(fmt.Sprintf("%s/%d", m, pt.Merge.Layer), i)
				}
				for _, l := range pt.Merge.Layers { // cross-layer merges
					add(fmt.Sprintf("%s/%d", plan.BaseAlias, l), i)
				}
			}
		}
	}
	return out
}

// mergeModels are the models a merge reads, the base included (task
// vectors are taken against it).
func mergeModels(m *plan.Merge) []string {
	seen := map[string]bool{plan.BaseAlias: true}
	out := []string{plan.BaseAlias}
	for _, x := range m.Models {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func colorOf(fam *plan.Family, model string) string {
	for i, m := range fam.Models {
		if m == model {
			return Colors[i%len(Colors)]
		}
	}
	return "#000"
}

// heat maps v in [lo, hi] to a white→red color.
func heat(v, lo, hi float64) string {
	t := 0.5
	if hi > lo {
		t = (v - lo) / (hi - lo)
	}
	g := int(235 - 200*t)
	return fmt.Sprintf("rgb(240,%d,%d)", g, g)
}

// Diagram draws the plan over its family as SVG. selected is the slot
// shown as selected (-1: none). Every source block carries data-model and
// data-layer, every output slot data-slot, so the app (drag and drop) and
// tests can address them; hovering shows a slot's recipe (<title>).
func Diagram(p *plan.Plan, fam *plan.Family, diag *Diagnostics, selected int) string {
	used := uses(p)
	nm := len(fam.Models)
	rows := max(fam.Layers, len(p.Slots))
	outX := left + float64(nm)*(blockW+colGap) - colGap + outGap
	w := outX + slotW + left
	h := top + float64(rows)*(blockH+rowGap) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="diagram-svg" viewBox="0 0 %.0f %.0f" width="100%%" style="max-width:%.0fpx;height:auto" font-family="sans-serif" font-size="12">`, w, h, w)
	removed := 0.0
	if fam.Layers > 0 {
		removed = p.FractionRemoved(fam)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="13" id="diagram-info">%d slots · %s parameters · %.1f%% removed</text>`, left, len(p.Slots), humanCount(p.ParamCount(fam)), 100*removed)
	// Each strip's range, for its heat cells.
	type span struct{ lo, hi float64 }
	var spans []span
	if diag != nil {
		var names []string
		for _, st := range diag.Strips {
			sp := span{math.Inf(1), math.Inf(-1)}
			for _, vs := range st.Layers {
				for _, v := range vs {
					sp.lo, sp.hi = math.Min(sp.lo, v), math.Max(sp.hi, v)
				}
			}
			spans = append(spans, sp)
			names = append(names, st.Name)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="32" fill="#555">strips beside each block: %s (red: the layer changes more; pale: cheap to cut)</text>`, left, html.EscapeString(strings.Join(names, "; ")))
	}
	// Curves first, under the blocks.
	var keys []string
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		model, layer := splitKey(k)
		mi := indexOf(fam.Models, model)
		if mi < 0 || layer < 0 || layer >= fam.Layers {
			continue
		}
		x1 := left + float64(mi)*(blockW+colGap) + blockW
		y1 := top + float64(layer)*(blockH+rowGap) + blockH/2
		for _, slot := range used[k] {
			x2 := outX
			y2 := top + float64(slot)*(blockH+rowGap) + blockH/2
			fmt.Fprintf(&b, `<path class="link" data-from-model="%s" data-from-layer="%d" data-to-slot="%d" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" stroke-width="1.6" opacity="0.75"/>`,
				html.EscapeString(model), layer, slot, x1, y1, x1+outGap/2, y1, x2-outGap/2, y2, x2, y2, colorOf(fam, model))
		}
	}
	// Source columns.
	for mi, m := range fam.Models {
		x := left + float64(mi)*(blockW+colGap)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-weight="bold" fill="%s">%s</text>`, x, top-8, colorOf(fam, m), html.EscapeString(m))
		for l := 0; l < fam.Layers; l++ {
			y := top + float64(l)*(blockH+rowGap)
			k := fmt.Sprintf("%s/%d", m, l)
			op := "1"
			state := "used"
			if len(used[k]) == 0 {
				op, state = "0.3", "unused"
			}
			fmt.Fprintf(&b, `<g class="source %s" data-model="%s" data-layer="%d" opacity="%s"><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="3" fill="%s" data-model="%s" data-layer="%d"/><text x="%.1f" y="%.1f" fill="white" pointer-events="none">%s %d</text><title>%s layer %d (%s: drag onto a slot to take it, shift-drag to add it to the slot's merge)</title></g>`,
				state, html.EscapeString(m), l, op, x, y, blockW, blockH, colorOf(fam, m), html.EscapeString(m), l, x+6, y+15, html.EscapeString(m), l, html.EscapeString(m), l, state)
			if diag != nil {
				for k, st := range diag.Strips {
					if vs := st.Layers[m]; l < len(vs) {
						fmt.Fprintf(&b, `<rect class="heat" x="%.1f" y="%.1f" width="%.0f" height="%.0f" fill="%s" stroke="#ccc" data-heat-model="%s" data-heat-layer="%d" data-heat-strip="%d"><title>%s, %s layer %d: %.3g</title></rect>`,
							x+blockW+2+float64(k)*(stripW+1), y, stripW, blockH, heat(vs[l], spans[k].lo, spans[k].hi), html.EscapeString(m), l, k, html.EscapeString(st.Name), html.EscapeString(m), l, vs[l])
					}
				}
			}
		}
	}
	// Output column: the tailored stack.
	fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-weight="bold">tailored</text>`, outX, top-8)
	problems, _ := SlotProblems(p, fam)
	for i, s := range p.Slots {
		y := top + float64(i)*(blockH+rowGap)
		fill, model := "#444", ""
		if s.Take != nil {
			fill, model = colorOf(fam, s.Take.Model), s.Take.Model
		}
		stroke, cls := "none", "slot"
		if i == selected {
			stroke = "#000"
		}
		desc := strings.TrimSpace(s.Describe())
		if len(problems[i]) > 0 { // invalid: red, as in the grid
			stroke, cls = "#b42318", "slot bad"
			desc += " — " + strings.Join(problems[i], "; ")
		}
		fmt.Fprintf(&b, `<g class="%s" data-slot="%d"><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="3" fill="%s" stroke="%s" stroke-width="2" data-slot="%d" data-slot-model="%s"/><text x="%.1f" y="%.1f" fill="white" pointer-events="none">%d  %s</text><title>slot %d: %s</title></g>`,
			cls, i, outX, y, slotW, blockH, fill, stroke, i, html.EscapeString(model), outX+6, y+15, i, html.EscapeString(clip(desc, 30)), i, html.EscapeString(desc))
	}
	b.WriteString("</svg>")
	return b.String()
}

func splitKey(k string) (string, int) {
	i := strings.LastIndex(k, "/")
	var l int
	fmt.Sscan(k[i+1:], &l)
	return k[:i], l
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// humanCount prints a parameter count to 3 significant digits (260K, 1.24B).
func humanCount(n int64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.3gB", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.3gM", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.3gK", f/1e3)
	}
	return fmt.Sprint(n)
}

// Drop is the edit a drag and drop makes: source layer (model, layer)
// dropped on slot. Without add the slot takes that layer as is; with add
// the layer's model joins the slot's merge (a take becomes a
// task-arithmetic merge of the two models at λ 1 on the dropped layer; a
// merge gains the model). It returns an error naming the problem instead
// of making an invalid plan. A plain drop replaces the whole slot, sub-block
// overrides included.
func Drop(p *plan.Plan, slot int, model string, layer int, add bool) error {
	if slot < 0 || slot >= len(p.Slots) {
		return fmt.Errorf("slot %d: the plan has %d slots", slot, len(p.Slots))
	}
	s := &p.Slots[slot]
	if !add {
		// the whole layer: sub-block overrides go too
		s.Take, s.Merge, s.Attn, s.MLP = &plan.Take{Model: model, Layer: layer}, nil, nil, nil
		return nil
	}
	if model == plan.BaseAlias {
		return fmt.Errorf("slot %d: the base is every merge's reference already; drop a fine-tune to add it", slot)
	}
	if s.Merge != nil {
		if s.Merge.Layer != layer {
			return fmt.Errorf("slot %d merges layer %d: a layer %d cannot join it (drop it without shift to take it instead)", slot, s.Merge.Layer, layer)
		}
		for _, m := range s.Merge.Models {
			if m == model {
				return fmt.Errorf("slot %d: %s is in its merge already", slot, model)
			}
		}
		s.Merge.Models = append(s.Merge.Models, model)
		if len(s.Merge.Weights) > 0 {
			s.Merge.Weights = append(s.Merge.Weights, 1)
		}
		return nil
	}
	cur := s.Take
	if cur.Layer != layer {
		return fmt.Errorf("slot %d takes layer %d: a layer %d cannot merge with it (drop it without shift to take it instead)", slot, cur.Layer, layer)
	}
	models := []string{model}
	if cur.Model != plan.BaseAlias && cur.Model != model {
		models = []string{cur.Model, model}
	}
	s.Take, s.Merge = nil, &plan.Merge{Method: "task_arithmetic", Layer: layer, Models: models, Params: plan.Params{Lambda: plan.Ptr(1.0)}}
	return nil
}

// Move moves slot from to position to (the others shift).
func Move(p *plan.Plan, from, to int) error {
	if from < 0 || from >= len(p.Slots) || to < 0 || to >= len(p.Slots) {
		return fmt.Errorf("move slot %d to %d: the plan has %d slots", from, to, len(p.Slots))
	}
	s := p.Slots[from]
	rest := append(append([]plan.Slot(nil), p.Slots[:from]...), p.Slots[from+1:]...)
	p.Slots = append(append(append([]plan.Slot(nil), rest[:to]...), s), rest[to:]...)
	return nil
}
