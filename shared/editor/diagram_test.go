package editor

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

var fam = &plan.Family{Models: []string{"base", "code", "docs", "math"}, Layers: 5, LayerParams: 1000, OuterParams: 500}

func demoPlan() *plan.Plan {
	return &plan.Plan{Version: 1, Slots: []plan.Slot{
		{Take: &plan.Take{Model: "base", Layer: 0}},
		{Take: &plan.Take{Model: "math", Layer: 1}},
		{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 2, Models: []string{"code", "docs"}, Params: plan.Params{Lambda: plan.Ptr(0.5)}}},
		{Take: &plan.Take{Model: "base", Layer: 4}},
	}}
}

// elements parses the SVG and returns each element's attributes.
func elements(t *testing.T, svg string) []map[string]string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var out []map[string]string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the diagram is not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			m := map[string]string{"": se.Name.Local}
			for _, a := range se.Attr {
				m[a.Name.Local] = a.Value
			}
			out = append(out, m)
		}
	}
}

// Every source block is addressable by data-model/data-layer, every slot
// by data-slot; a curve goes from each source a slot uses to that slot
// (merges: the base and each fine-tune); unused sources are greyed; the
// header states slots, parameters and the fraction removed.
func TestDiagram(t *testing.T) {
	p := demoPlan()
	diag := &Diagnostics{Strips: []Strip{{Name: "block influence", Layers: map[string][]float64{"base": {0.1, 0.9, 0.2, 0.05, 0.5}}},
		{Name: "angular distance", Layers: map[string][]float64{"base": {0.2, 0.3, 0.2, 0.1, 0.4}, "code": {0.2, 0.3, 0.2, 0.1, 0.4}}}}}
	svg := Diagram(p, fam, diag, 2)
	els := elements(t, svg)
	blocks, slots, heat := map[string]string{}, map[string]bool{}, 0
	var links []string
	for _, e := range els {
		switch {
		case e[""] == "g" && e["data-model"] != "":
			blocks[e["data-model"]+"/"+e["data-layer"]] = e["opacity"]
		case e[""] == "g" && e["data-slot"] != "":
			slots[e["data-slot"]] = true
		case e[""] == "path" && e["class"] == "link":
			links = append(links, e["data-from-model"]+"/"+e["data-from-layer"]+">"+e["data-to-slot"])
		case e[""] == "rect" && e["class"] == "heat":
			heat++
		}
	}
	if len(blocks) != 20 || len(slots) != 4 {
		t.Fatalf("%d source blocks (want 20), %d slots (want 4)", len(blocks), len(slots))
	}
	want := map[string]bool{"base/0>0": true, "math/1>1": true, "base/2>2": true, "code/2>2": true, "docs/2>2": true, "base/4>3": true}
	if len(links) != len(want) {
		t.Errorf("links %v, want %v", links, want)
	}
	for _, l := range links {
		if !want[l] {
			t.Errorf("unexpected link %s", l)
		}
	}
	if blocks["math/1"] != "1" || blocks["math/0"] != "0.3" || blocks["base/3"] != "0.3" {
		t.Errorf("used/unused opacity: math/1 %s, math/0 %s, base/3 %s", blocks["math/1"], blocks["math/0"], blocks["base/3"])
	}
	if heat != 15 {
		t.Errorf("%d heat cells, want 15 (the base's layers twice, code's once)", heat)
	}
	for _, w := range []string{"4 slots", "% removed", "slot 2: task_arithmetic(code+docs)[2] λ=0.5", `stroke="#000"`} {
		if !strings.Contains(svg, w) {
			t.Errorf("diagram lacks %q", w)
		}
	}
}

// Drag and drop edits: a plain drop takes the layer; a shift-drop adds a
// fine-tune to the slot's merge (or makes one from a take of the same
// layer); impossible drops are refused with the slot named, the plan
// untouched; slots move.
func TestDropAndMove(t *testing.T) {
	p := demoPlan()
	if err := Drop(p, 0, "code", 3, false); err != nil || p.Slots[0].Take == nil || p.Slots[0].Take.Model != "code" || p.Slots[0].Take.Layer != 3 {
		t.Fatalf("take: %v %+v", err, p.Slots[0])
	}
	if err := Drop(p, 1, "docs", 1, true); err != nil || p.Slots[1].Merge == nil || strings.Join(p.Slots[1].Merge.Models, "+") != "math+docs" {
		t.Fatalf("take → merge: %v %+v", err, p.Slots[1])
	}
	if err := Drop(p, 2, "math", 2, true); err != nil || strings.Join(p.Slots[2].Merge.Models, "+") != "code+docs+math" {
		t.Fatalf("merge gains a model: %v %+v", err, p.Slots[2].Merge)
	}
	if err := plan.Validate(p, fam); err != nil {
		t.Fatalf("edited plan: %v", err)
	}
	before := Diagram(p, fam, nil, -1)
	for _, c := range []struct {
		slot  int
		model string
		layer int
		want  string
	}{{2, "math", 2, "math is in its merge already"}, {2, "code", 4, "merges layer 2: a layer 4 cannot join it"}, {3, "base", 4, "the base is every merge's reference"}, {9, "code", 1, "slot 9: the plan has 4 slots"}, {3, "code", 1, "takes layer 4: a layer 1 cannot merge"}} {
		if err := Drop(p, c.slot, c.model, c.layer, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("drop %s[%d] on %d: %v, want %q", c.model, c.layer, c.slot, err, c.want)
		}
	}
	if Diagram(p, fam, nil, -1) != before {
		t.Error("a refused drop changed the plan")
	}
	if err := Move(p, 0, 3); err != nil || p.Slots[3].Take == nil || p.Slots[3].Take.Model != "code" {
		t.Errorf("move: %v %+v", err, p.Slots)
	}
	if err := Move(p, 0, 4); err == nil {
		t.Error("a move past the end was accepted")
	}
}

// A slot taking its MLP from another model draws a curve from that model's
// block too, and says so in its label.
func TestDiagramSubBlocks(t *testing.T) {
	p, err := plan.Parse([]byte(`{"slots":[{"take":["code",0],"mlp":["math",0]},{"take":["base",1],"attn":"none"},{"take":["base",4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	svg := Diagram(p, fam, nil, -1)
	links := map[string]bool{}
	for _, e := range elements(t, svg) {
		if e[""] == "path" && e["class"] == "link" {
			links[e["data-from-model"]+"/"+e["data-from-layer"]+">"+e["data-to-slot"]] = true
		}
	}
	for _, w := range []string{"code/0>0", "math/0>0", "base/1>1", "base/4>2"} {
		if !links[w] {
			t.Errorf("no link %s in %v", w, links)
		}
	}
	if !strings.Contains(svg, "slot 0: code[0] · mlp: math[0]") || !strings.Contains(svg, "slot 1: base[1] · attn: none") {
		t.Error("slot labels do not name the sub-blocks")
	}
}

func TestSetSubBlock(t *testing.T) {
	p, _ := plan.Parse([]byte(`{"slots":[{"take":["code",1]},{"take":["base",2]}]}`))
	if err := SetSubBlock(p, 0, "mlp", "take:math"); err != nil {
		t.Fatal(err)
	}
	if got := p.Slots[0].Describe(); got != "code[1] · mlp: math[1]" {
		t.Errorf("slot 0: %s", got)
	}
	if err := SetSubBlock(p, 0, "attn", "none"); err == nil || !strings.Contains(err.Error(), "set the mlp back") {
		t.Errorf("both overrides: %v", err)
	}
	if err := SetSubBlock(p, 1, "attn", "none"); err != nil || p.Slots[1].Describe() != "base[2] · attn: none" {
		t.Errorf("attn none: %v %s", err, p.Slots[1].Describe())
	}
	if err := SetSubBlock(p, 0, "mlp", "slot"); err != nil || p.Slots[0].Split() {
		t.Errorf("back to the slot: %v %+v", err, p.Slots[0])
	}
	for _, bad := range [][2]string{{"mlp", "weird"}, {"ffn", "none"}} {
		if err := SetSubBlock(p, 0, bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := plan.Validate(p, fam); err != nil {
		t.Error(err)
	}
	panel := SlotPanel(p, fam, 1)
	if !strings.Contains(panel, `data-action="attn:1"`) || !strings.Contains(panel, `<option value="none" selected="selected">`) {
		t.Errorf("panel lacks the sub-block selects:\n%s", panel)
	}
}

// An invalid slot is marked in the diagram as in the grid, with its
// problem in the hover text.
func TestInvalidSlotMarkedInBothViews(t *testing.T) {
	p := demoPlan()
	p.Slots[1] = plan.Slot{Merge: &plan.Merge{Method: "slerp", Layer: 1, Models: []string{"code", "docs"}}}
	svg := Diagram(p, fam, nil, -1)
	bad := 0
	for _, e := range elements(t, svg) {
		if e[""] == "g" && e["class"] == "slot bad" {
			if e["data-slot"] != "1" {
				t.Errorf("slot %s marked bad", e["data-slot"])
			}
			bad++
		}
	}
	if bad != 1 || !strings.Contains(svg, "slot 1: slerp") || !strings.Contains(svg, "at most 1") && !strings.Contains(svg, "model") {
		t.Errorf("the diagram marks %d bad slots", bad)
	}
	if g := Grid(p, fam, -1); !strings.Contains(g, `id="slot-1" class="bad"`) {
		t.Error("the grid does not mark slot 1 bad")
	}
}

// A plan with more slots than the base has layers is said to be larger,
// not "-20% removed"; insert adds the layer after the selected slot's.
func TestInsertAndLargerPlan(t *testing.T) {
	e := NewEditor(BasePlan(fam))
	e.Select(1)
	if err := e.Insert(e.Selected, fam); err != nil {
		t.Fatal(err)
	}
	if got := recipes(e.Plan); got != "base[0] | base[1] | base[2] | base[2] | base[3] | base[4]" {
		t.Errorf("inserted after slot 1: %s", got)
	}
	if info := Info(e.Plan, fam); !strings.Contains(info, "6 slots") || !strings.Contains(info, "larger than the base") || strings.Contains(info, "-") {
		t.Errorf("info: %q", info)
	}
}
