package editor

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// SlotProblems splits validation's problems into those of each slot and
// the plan's general ones.
func SlotProblems(p *plan.Plan, fam *plan.Family) (map[int][]string, []string) {
	bySlot := map[int][]string{}
	var general []string
	if err := plan.Validate(p, fam); err != nil {
		ps, ok := err.(plan.Problems)
		if !ok {
			return bySlot, []string{err.Error()}
		}
		for _, pr := range ps {
			if strings.HasPrefix(pr.Path, "slots[") {
				i, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(pr.Path, "]", 2)[0], "slots["))
				if err == nil {
					bySlot[i] = append(bySlot[i], pr.String())
					continue
				}
			}
			general = append(general, pr.String())
		}
	}
	return bySlot, general
}

// Info is the plan's summary line: slots, parameters, the fraction of the
// base's removed (or added), and the plan's general problems.
func Info(p *plan.Plan, fam *plan.Family) string {
	_, general := SlotProblems(p, fam)
	frac := p.FractionRemoved(fam)
	size := fmt.Sprintf("%.1f%% removed", 100*frac)
	if frac < 0 {
		size = fmt.Sprintf("%.1f%% larger than the base", -100*frac)
	}
	info := fmt.Sprintf("%d slots · %d parameters · %s", len(p.Slots), p.ParamCount(fam), size)
	if len(general) > 0 {
		info += " · " + strings.Join(general, "; ")
	}
	return info
}

// Grid is the plan as a table of slots × models: per slot its source
// layer, per model "take" (run that model's layer) and ± (in or out of the
// slot's merge; not for the base, every merge's reference), the merge's
// method and parameters, the slot's recipe (sub-block overrides included)
// and up, down, dup and drop. Every control's data-action names the
// editor call it makes (Do). Invalid slots are marked bad with their
// problems below them, as in the diagram.
func Grid(p *plan.Plan, fam *plan.Family, selected int) string {
	problems, _ := SlotProblems(p, fam)
	var b strings.Builder
	b.WriteString(`<table class="grid"><tr><th>slot</th><th>layer</th>`)
	for _, m := range fam.Models {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(m))
	}
	b.WriteString("<th>merge</th><th>recipe</th><th></th></tr>")
	for i, s := range p.Slots {
		var cls []string
		if len(problems[i]) > 0 {
			cls = append(cls, "bad")
		}
		if i == selected {
			cls = append(cls, "selected")
		}
		fmt.Fprintf(&b, `<tr id="slot-%d" class="%s"><td><button class="sel" data-action="select:%d">%d</button></td><td><input type="number" min="0" max="%d" value="%d" data-action="layer:%d" id="layer-%d" class="layer"></td>`,
			i, strings.Join(cls, " "), i, i, fam.Layers-1, sourceLayer(s), i, i)
		for _, m := range fam.Models {
			state, label := "", "·"
			switch {
			case s.Take != nil && s.Take.Model == m:
				state, label = "take", "take"
			case s.Merge != nil && indexOf(s.Merge.Models, m) >= 0:
				state, label = "merge", "merge"
				if k := indexOf(s.Merge.Models, m); k < len(s.Merge.Weights) {
					label = "w " + plan.Sig3(s.Merge.Weights[k])
				}
			}
			fmt.Fprintf(&b, `<td class="cell %s"><button data-action="take:%d:%s" id="take-%d-%s" title="slot %d runs %s's layer as is">%s</button>`,
				state, i, html.EscapeString(m), i, html.EscapeString(m), i, html.EscapeString(m), label)
			if m != plan.BaseAlias {
				fmt.Fprintf(&b, `<button class="m" data-action="toggle:%d:%s" id="toggle-%d-%s" title="%s in or out of slot %d's merge">±</button>`,
					i, html.EscapeString(m), i, html.EscapeString(m), html.EscapeString(m), i)
			}
			b.WriteString("</td>")
		}
		b.WriteString("<td>")
		if s.Merge != nil {
			mergeControls(&b, s.Merge, i)
		}
		fmt.Fprintf(&b, `</td><td class="recipe">%s</td><td>`, html.EscapeString(strings.TrimSpace(s.Describe())))
		for _, act := range [][2]string{{"up", "↑"}, {"down", "↓"}, {"dup", "dup"}, {"drop", "drop"}} {
			fmt.Fprintf(&b, `<button data-action="%s:%d" id="%s-%d">%s</button>`, act[0], i, act[0], i, act[1])
		}
		b.WriteString("</td></tr>")
		for _, pr := range problems[i] {
			fmt.Fprintf(&b, `<tr class="problem"><td></td><td colspan="%d">%s</td></tr>`, len(fam.Models)+4, html.EscapeString(pr))
		}
	}
	b.WriteString("</table>")
	return b.String()
}

// mergeControls are a merge's method select and its parameters' sliders,
// offered as the registry says the method takes them.
func mergeControls(b *strings.Builder, m *plan.Merge, i int) {
	fmt.Fprintf(b, `<select data-action="method:%d" id="method-%d">`, i, i)
	for _, name := range plan.MethodNames() {
		sel := ""
		if name == m.Method {
			sel = " selected"
		}
		fmt.Fprintf(b, `<option%s>%s</option>`, sel, name)
	}
	b.WriteString("</select>")
	info := m.Info()
	switch info.Scale {
	case "t":
		v := plan.Get(m.T, 0.5)
		fmt.Fprintf(b, ` t <input type="range" min="0" max="1" step="0.05" value="%g" data-action="lambda:%d" id="lambda-%d"> %s`, v, i, i, plan.Sig3(v))
	case "lambda":
		v := plan.Get(m.Lambda, 1)
		fmt.Fprintf(b, ` λ <input type="range" min="0" max="1" step="0.05" value="%g" data-action="lambda:%d" id="lambda-%d"> %s`, v, i, i, plan.Sig3(v))
	}
	if m.CrossLayer() {
		fmt.Fprintf(b, ` <span class="xl" title="each model's source layer">layers %s</span>`, html.EscapeString(strings.Trim(fmt.Sprint(m.Layers), "[]")))
	}
	if info.Density {
		d := plan.Get(m.Density, 1)
		fmt.Fprintf(b, ` density <input type="range" min="0" max="1" step="0.05" value="%g" data-action="density:%d" id="density-%d"> %s`, d, i, i, plan.Sig3(d))
	}
}
