package editor

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// SlotPanel is the side panel of a selected slot: its recipe, the merge's
// method, λ (t for slerp), density and a weight per model as inputs (their
// data-action names the field: method:i, lambda:i, density:i, weight:i:k),
// and the problems validation finds in it.
func SlotPanel(p *plan.Plan, fam *plan.Family, i int) string {
	if i < 0 || i >= len(p.Slots) {
		return `<p class="hint">No slot selected: click one in the tailored column.</p>`
	}
	s := p.Slots[i]
	var b strings.Builder
	fmt.Fprintf(&b, `<h3>slot %d</h3><p id="slot-recipe">%s</p>`, i, html.EscapeString(strings.TrimSpace(s.Describe())))
	if m := s.Merge; m != nil {
		fmt.Fprintf(&b, `<label>method <select id="panel-method" data-action="method:%d">`, i)
		for _, name := range plan.MethodNames() {
			sel := ""
			if name == m.Method {
				sel = ` selected="selected"`
			}
			fmt.Fprintf(&b, `<option%s>%s</option>`, sel, name)
		}
		b.WriteString(`</select></label><br>`)
		info := m.Info()
		if info.Scale == "t" {
			fmt.Fprintf(&b, `<label>t <input id="panel-lambda" type="number" step="0.05" min="0" max="1" value="%s" data-action="lambda:%d"></label><br>`, num(m.T, 0.5), i)
		} else if info.Scale == "lambda" {
			fmt.Fprintf(&b, `<label>λ <input id="panel-lambda" type="number" step="0.05" value="%s" data-action="lambda:%d"></label><br>`, num(m.Lambda, 1), i)
		}
		if info.Density {
			fmt.Fprintf(&b, `<label>density <input id="panel-density" type="number" step="0.05" min="0" max="1" value="%s" data-action="density:%d"></label><br>`, num(m.Density, 1), i)
		}
		for k, model := range m.Models {
			w := 1.0
			if k < len(m.Weights) {
				w = m.Weights[k]
			}
			fmt.Fprintf(&b, `<label>weight of %s <input class="panel-weight" id="panel-weight-%d" type="number" step="0.1" value="%s" data-action="weight:%d:%d"></label><br>`, html.EscapeString(model), k, plan.Sig3(w), i, k)
		}
	}
	subBlockControls(&b, s, fam, i)
	if err := plan.Validate(p, fam); err != nil {
		if ps, ok := err.(plan.Problems); ok {
			prefix := fmt.Sprintf("slots[%d]", i)
			for _, pr := range ps {
				if strings.HasPrefix(pr.Path, prefix) {
					fmt.Fprintf(&b, `<p class="problem">%s</p>`, html.EscapeString(pr.String()))
				}
			}
		}
	}
	return b.String()
}

// subBlockControls writes the slot's sub-block selects (data-action
// attn:i and mlp:i; values "slot", "none" or "take:MODEL": that model's
// sub-block of the slot's source layer).
func subBlockControls(b *strings.Builder, s plan.Slot, fam *plan.Family, i int) {
	if fam != nil && fam.NoSubBlocks != "" {
		return
	}
	cur := func(pt *plan.Part) string {
		switch {
		case pt == nil:
			return "slot"
		case pt.None:
			return "none"
		case pt.Take != nil:
			return "take:" + pt.Take.Model
		}
		return "merge"
	}
	var models []string
	if fam != nil {
		models = fam.Models
	}
	for _, sb := range []struct {
		key, label string
		pt         *plan.Part
	}{{"attn", "attention", s.Attn}, {"mlp", "MLP", s.MLP}} {
		c := cur(sb.pt)
		fmt.Fprintf(b, `<label>%s <select id="panel-%s" data-action="%s:%d">`, sb.label, sb.key, sb.key, i)
		opts := [][2]string{{"slot", "as the slot"}, {"none", "none (skipped)"}}
		for _, m := range models {
			opts = append(opts, [2]string{"take:" + m, m + "'s"})
		}
		if c == "merge" {
			opts = append(opts, [2]string{"merge", "a merge (edit the JSON)"})
		}
		for _, o := range opts {
			sel := ""
			if o[0] == c {
				sel = ` selected="selected"`
			}
			fmt.Fprintf(b, `<option value="%s"%s>%s</option>`, html.EscapeString(o[0]), sel, html.EscapeString(o[1]))
		}
		b.WriteString(`</select></label><br>`)
	}
}

// SetSubBlock sets slot i's attention or MLP sub-block ("attn" or "mlp")
// to value: "slot" (the slot's own recipe), "none" (skipped) or
// "take:MODEL" (that model's sub-block of the slot's source layer). The
// other sub-block's override is kept when the result is a valid slot.
func SetSubBlock(p *plan.Plan, i int, which, value string) error {
	if i < 0 || i >= len(p.Slots) {
		return fmt.Errorf("slot %d: the plan has %d slots", i, len(p.Slots))
	}
	s := &p.Slots[i]
	var pt *plan.Part
	switch {
	case value == "slot":
	case value == "none":
		pt = &plan.Part{None: true}
	case strings.HasPrefix(value, "take:"):
		layer := plan.Part{Take: s.Take, Merge: s.Merge}.SourceLayer()
		pt = &plan.Part{Take: &plan.Take{Model: strings.TrimPrefix(value, "take:"), Layer: layer}}
	default:
		return fmt.Errorf("slot %d %s: %q is not slot, none or take:MODEL", i, which, value)
	}
	next := *s
	switch which {
	case "attn":
		next.Attn = pt
	case "mlp":
		next.MLP = pt
	default:
		return fmt.Errorf("slot %d: no sub-block %q (attn or mlp)", i, which)
	}
	if next.Attn != nil && next.MLP != nil {
		other := map[string]string{"attn": "mlp", "mlp": "attn"}[which]
		return fmt.Errorf("slot %d: set the %s back to \"as the slot\" first — a slot overrides one sub-block (take the other one as the slot's layer)", i, other)
	}
	*s = next
	return nil
}

func num(v *float64, def float64) string {
	if v == nil {
		return plan.Sig3(def)
	}
	return plan.Sig3(*v)
}

// SetWeight sets the weight of the k-th model of slot i's merge (the others
// keep theirs, 1 by default).
func SetWeight(p *plan.Plan, i, k int, w float64) error {
	if i < 0 || i >= len(p.Slots) || p.Slots[i].Merge == nil {
		return fmt.Errorf("slot %d has no merge", i)
	}
	m := p.Slots[i].Merge
	if k < 0 || k >= len(m.Models) {
		return fmt.Errorf("slot %d merges %d models: no model %d", i, len(m.Models), k)
	}
	if math.IsNaN(w) || math.IsInf(w, 0) {
		return fmt.Errorf("slot %d: weight %v is not a number", i, w)
	}
	for len(m.Weights) < len(m.Models) {
		m.Weights = append(m.Weights, 1)
	}
	m.Weights[k] = w
	return nil
}

// Row is a result-table row for RetentionBars.
type Row struct {
	Name      string
	Retention []float64
}

// RetentionBars: per task, a bar per row (the winner, the baselines, the
// dense models), with the 100 % line.
func RetentionBars(rows []Row, tasks []string) string {
	if len(rows) == 0 || len(tasks) == 0 {
		return ""
	}
	hi := 1.0
	for _, r := range rows {
		for _, v := range r.Retention {
			if !math.IsNaN(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	c := newChart("retention-bars", "Retention per task", "task", "retention", 640, 260, 0, float64(len(tasks)), 0, hi*1.05)
	c.yTickFmt = plan.Percent
	c.xTickFmt = func(float64) string { return "" }
	var body strings.Builder
	groupW := (c.w - c.l - c.r) / float64(len(tasks))
	barW := groupW * 0.8 / float64(len(rows))
	for k, t := range tasks {
		fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, c.l+groupW*(float64(k)+0.5), c.h-c.bot+28, html.EscapeString(t))
		for j, r := range rows {
			if k >= len(r.Retention) || math.IsNaN(r.Retention[k]) {
				continue
			}
			x := c.l + groupW*float64(k) + groupW*0.1 + barW*float64(j)
			y := c.py(r.Retention[k])
			fmt.Fprintf(&body, `<rect class="rbar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`,
				x, y, barW*0.9, c.h-c.bot-y, Colors[(j+1)%len(Colors)], html.EscapeString(r.Name), html.EscapeString(t), plan.Percent(r.Retention[k]))
		}
	}
	fmt.Fprintf(&body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`, c.l, c.py(1), c.w-c.r, c.py(1))
	for j, r := range rows {
		c.legend = append(c.legend, legendItem{r.Name, Colors[(j+1)%len(Colors)], "dot"})
	}
	c.h += 14 * float64(max(0, len(rows)-10))
	return c.svg(body.String())
}

// ParallelCoordinates draws every finished top-budget trial as a line over
// its genes — per source layer whether it is kept and which model it comes
// from (0: removed, 1: the base, 2…: fine-tunes, a merge half-way above its
// first model) — colored from pale (low objective) to dark (high).
func ParallelCoordinates(ts []TrialPoint, fam *plan.Family) string {
	top := 0
	for _, t := range ts {
		if !t.Failed && t.Plan != nil {
			top = max(top, t.Budget)
		}
	}
	var pts []TrialPoint
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range ts {
		if !t.Failed && t.Plan != nil && t.Budget == top {
			pts = append(pts, t)
			lo, hi = math.Min(lo, t.Objective), math.Max(hi, t.Objective)
		}
	}
	if len(pts) == 0 || fam.Layers == 0 {
		return ""
	}
	nm := float64(len(fam.Models))
	c := newChart("parallel", fmt.Sprintf("Genes of the trials at budget %d (darker: higher objective)", top), "source layer", "removed · base · fine-tunes", 640, 260, 0, float64(fam.Layers-1), 0, nm)
	c.integerX = true
	c.yTickFmt = func(v float64) string {
		k := int(v)
		if v != math.Trunc(v) || k < 0 || k > len(fam.Models) {
			return ""
		}
		if k == 0 {
			return "removed"
		}
		return fam.Models[k-1]
	}
	var body strings.Builder
	for _, t := range pts {
		gene := make([]float64, fam.Layers)
		for _, s := range t.Plan.Slots {
			switch {
			case s.Take != nil && s.Take.Layer < fam.Layers:
				gene[s.Take.Layer] = float64(indexOf(fam.Models, s.Take.Model) + 1)
			case s.Merge != nil && s.Merge.Layer < fam.Layers && len(s.Merge.Models) > 0:
				gene[s.Merge.Layer] = float64(indexOf(fam.Models, s.Merge.Models[0])+1) + 0.5
			}
		}
		var pp []string
		for l, g := range gene {
			pp = append(pp, fmt.Sprintf("%.1f,%.1f", c.px(float64(l)), c.py(g)))
		}
		shade := 0.5
		if hi > lo {
			shade = (t.Objective - lo) / (hi - lo)
		}
		v := int(220 - 190*shade)
		fmt.Fprintf(&body, `<polyline class="gene" points="%s" fill="none" stroke="rgb(%d,%d,255)" stroke-width="1.2" opacity="0.8"><title>trial %d: %s</title></polyline>`,
			strings.Join(pp, " "), v, v, t.Index, plan.Percent(t.Objective))
	}
	return c.svg(body.String())
}
