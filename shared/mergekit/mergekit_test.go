package mergekit

import (
	"errors"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

func five(string) (int, error) { return 5, nil }

const passthroughDrop = `
slices:
  - sources:
      - model: /m/stories260K-base
        layer_range: [0, 3]
  - sources:
      - model: /m/stories260K-base
        layer_range: [4, 5]
merge_method: passthrough
dtype: bfloat16
`

const taStitch = `
merge_method: task_arithmetic
base_model: /m/stories260K-base
slices:
  - sources:
      - model: /m/stories260K-base
        layer_range: [0, 1]
  - sources:
      - model: /m/stories260K-base
        layer_range: [1, 2]
      - model: /m/stories260K-code
        layer_range: [1, 2]
      - model: /m/stories260K-math
        layer_range: [1, 2]
    parameters:
      lambda: 0.5
  - sources:
      - model: /m/stories260K-math
        layer_range: [3, 4]
        parameters:
          weight: 0.7
      - model: /m/stories260K-docs
        layer_range: [3, 4]
        parameters:
          weight: 0.3
      - model: /m/stories260K-base
        layer_range: [3, 4]
parameters:
  lambda: 1.0
`

const slerpGradient = `
slices:
  - sources:
      - model: /m/stories260K-base
        layer_range: [0, 5]
      - model: /m/stories260K-math
        layer_range: [0, 5]
merge_method: slerp
base_model: /m/stories260K-base
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
dtype: float32
`

func mustImport(t *testing.T, y string) *plan.Plan {
	t.Helper()
	p, err := Import([]byte(y), five)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func describe(p *plan.Plan) string {
	var parts []string
	for _, s := range p.Slots {
		parts = append(parts, strings.TrimSpace(s.Describe()))
	}
	return strings.Join(parts, " | ")
}

// import → export → import gives the same recipes, slot by slot.
func roundTrip(t *testing.T, p *plan.Plan) *plan.Plan {
	t.Helper()
	y, err := Export(p)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	q, err := Import(y, five)
	if err != nil {
		t.Fatalf("re-import: %v\n%s", err, y)
	}
	if len(q.Slots) != len(p.Slots) {
		t.Fatalf("%d slots after the round trip, %d before\n%s", len(q.Slots), len(p.Slots), y)
	}
	for i := range p.Slots {
		if p.SlotHash(i) != q.SlotHash(i) {
			t.Errorf("slot %d: %q became %q\n%s", i, p.Slots[i].Describe(), q.Slots[i].Describe(), y)
		}
	}
	if p.OuterHash(p.Embed) != q.OuterHash(q.Embed) || p.OuterHash(p.Head) != q.OuterHash(q.Head) {
		t.Errorf("embed/head changed\n%s", y)
	}
	return q
}

func TestPassthroughDrop(t *testing.T) {
	p := mustImport(t, passthroughDrop)
	if got := describe(p); got != "base[0] | base[1] | base[2] | base[4]" {
		t.Errorf("slots %s", got)
	}
	if p.Models["base"] != "/m/stories260K-base" || p.Embed.Model != "base" || p.Head.Model != "base" {
		t.Errorf("models %v embed %+v head %+v", p.Models, p.Embed, p.Head)
	}
	roundTrip(t, p)
	y, _ := Export(p)
	if strings.Count(string(y), "layer_range") != 2 {
		t.Errorf("consecutive layers not grouped:\n%s", y)
	}
}

func TestTaskArithmeticStitch(t *testing.T) {
	p := mustImport(t, taStitch)
	want := "base[0] | task_arithmetic(code+math)[1] λ=0.5 | task_arithmetic(math+docs)[3] weights=[0.7 0.3] λ=1"
	if got := describe(p); got != want {
		t.Errorf("slots\n got  %s\n want %s", got, want)
	}
	// mergekit's convention: embeddings from the first slice (the base
	// alone), head from the last slice's merge.
	if p.Embed.Model != "base" || p.Head.Merge == nil || strings.Join(p.Head.Merge.Models, ",") != "math,docs" {
		t.Errorf("embed %+v head %+v", p.Embed, p.Head)
	}
	roundTrip(t, p)
}

func TestSlerpGradientFilters(t *testing.T) {
	p := mustImport(t, slerpGradient)
	if len(p.Slots) != 5 {
		t.Fatalf("%d slots", len(p.Slots))
	}
	tOf := func(slot int, tensor string) float64 {
		return *p.Slots[slot].Merge.ParamsFor(tensor).T
	}
	// layer 2 is t = 0.5 along the slice: self_attn 0.3, mlp 0.7, norms 0.5
	for _, c := range []struct {
		slot   int
		tensor string
		want   float64
	}{
		{0, "self_attn.q_proj.weight", 0}, {0, "mlp.up_proj.weight", 1}, {0, "input_layernorm.weight", 0.5},
		{1, "self_attn.o_proj.weight", 0.5}, {1, "mlp.down_proj.weight", 0.5},
		{2, "self_attn.k_proj.weight", 0.3}, {2, "mlp.gate_proj.weight", 0.7}, {2, "post_attention_layernorm.weight", 0.5},
		{3, "self_attn.v_proj.weight", 0.7}, {3, "mlp.up_proj.weight", 0.3},
		{4, "self_attn.q_proj.weight", 1}, {4, "mlp.up_proj.weight", 0},
	} {
		if got := tOf(c.slot, "model.layers.x."+c.tensor); got != c.want {
			t.Errorf("slot %d %s: t = %g, want %g", c.slot, c.tensor, got, c.want)
		}
	}
	// The filters survive as the config's own words.
	if o := p.Slots[2].Merge.Overrides; len(o) != 2 || o[0].Filter != "self_attn" || o[1].Filter != "mlp" {
		t.Errorf("overrides %+v", o)
	}
	// Embeddings: slerp of the first slice at t = 0 (default branch, 0.5).
	if p.Embed.Merge == nil || *p.Embed.Merge.T != 0.5 || p.Embed.Merge.Models[0] != "math" {
		t.Errorf("embed %+v", p.Embed)
	}
	roundTrip(t, p)
}

func TestModelsForm(t *testing.T) {
	p := mustImport(t, `
models:
  - model: /m/stories260K-code
    parameters: {weight: 2}
  - model: /m/stories260K-math
merge_method: linear
`)
	if len(p.Slots) != 5 || p.Models["base"] != "/m/stories260K-code" {
		t.Errorf("%s %v", describe(p), p.Models)
	}
	if w := p.Slots[0].Merge.Weights; len(w) != 2 || w[0] != 2 || w[1] != 1 {
		t.Errorf("weights %v", w)
	}
	roundTrip(t, p)
}

func TestNotExpressible(t *testing.T) {
	p := &plan.Plan{Models: map[string]string{"base": "/b", "code": "/c"}, Slots: []plan.Slot{
		{Take: &plan.Take{Model: "code", Layer: 0}},
		{Merge: &plan.Merge{Method: "ties", Layer: 1, Models: []string{"code"}, Params: plan.Params{Density: plan.Ptr(0.5)}}},
		{Merge: &plan.Merge{Method: "slerp", Layer: 2, Models: []string{"code"}, Params: plan.Params{T: plan.Ptr(0.5)}}},
	}}
	_, err := Export(p)
	var ne *NotExpressible
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "one merge_method per config; this plan uses slerp (slots[2]) and ties (slots[1])") {
		t.Errorf("got %v", err)
	}
	q := &plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "code", Layer: 0}}}}
	if _, err := Export(q); err == nil || !strings.Contains(err.Error(), "embeddings from the first slice's model (code); the plan takes them from base") {
		t.Errorf("got %v", err)
	}
	laco := &plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}},
		{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 1, Models: []string{"base"}, Layers: []int{2}}}}}
	if _, err := Export(laco); err == nil || !strings.Contains(err.Error(), "slots[1] merges different source layers (1 and [2])") {
		t.Errorf("got %v", err)
	}
}

func TestImportErrors(t *testing.T) {
	for y, want := range map[string]string{
		"merge_method: linear\n":                                                                       "exactly one of slices and models",
		"slices: []\nmerge_method: linear\n":                                                           "slices: must be a non-empty list",
		"merge_method: frankenstein\nmodels: [{model: a}]":                                             `"frankenstein" is not a method`,
		"merge_method: linear\nmodels: [{model: a}]\nbogus: 1\n":                                       "line 3: bogus: unknown field",
		"merge_method: linear\nslices:\n  - sources:\n      - model: a\n        layer_range: [3, 1]\n": "line 5: slices[0].sources[0].layer_range: [3, 1] is not a half-open range",
		"merge_method: linear\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 2]}\n      - {model: b, layer_range: [0, 3]}\n":                                                                                                               "all sources of a slice must span the same number",
		"merge_method: linear\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 2]}\n      - {model: b, layer_range: [1, 3]}\n":                                                                                                               "gptailor merges one source layer across models",
		"merge_method: ties\nbase_model: a\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 1]}\n      - {model: b, layer_range: [0, 1], parameters: {density: 0.5}}\n      - {model: c, layer_range: [0, 1], parameters: {density: 0.7}}\n": "parameter density differs between models",
		"merge_method: linear\nparameters: {epsilon: 0.1}\nmodels: [{model: a}]":                                                                                                                                                                        `parameter "epsilon" is not supported`,
		"merge_method: slerp\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 1]}\n      - {model: b, layer_range: [0, 1]}\n":                                                                                                                "slices[0]: slerp needs a base_model",
		"a: [": "not YAML",
	} {
		_, err := Import([]byte(y), five)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got  %v\n want %q", y, err, want)
		}
	}
}

func FuzzImport(f *testing.F) {
	for _, s := range []string{passthroughDrop, taStitch, slerpGradient, "merge_method: passthrough\nslices: [{sources: [{model: a, layer_range: [0, 1000000000000000000]}]}]\n", "merge_method: linear\nmodels: [{model: a}, {model: b, parameters: {weight: [1, 2]}}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Import(b, five)
		if err != nil {
			return
		}
		if err := plan.Validate(p, nil); err != nil {
			t.Fatalf("imported an invalid plan: %v", err)
		}
		if y, err := Export(p); err == nil {
			if _, err := Import(y, five); err != nil {
				t.Fatalf("exported YAML does not import: %v\n%s", err, y)
			}
		}
	})
}

// Absurd layer ranges, in every form YAML can write a number, are refused
// against the model's layer count before anything is allocated; without
// layer counts, against MaxLayers.
func TestImportRangesBounded(t *testing.T) {
	slices := func(lo, hi string) string {
		return "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [" + lo + ", " + hi + "]\n"
	}
	cases := map[string]string{
		slices("0", "1000000000000000000"): "layer_range: [0, 1e+18] goes past the 5 layers of a",
		slices("0", "1000000"):             "layer_range: [0, 1e+06] goes past the 5 layers of a",
		slices("0", "6"):                   "layer_range: [0, 6] goes past the 5 layers of a",
		slices("0", "1e30"):                "goes past the 5 layers of a",
		slices("0", "0x7fffffff"):          `"0x7fffffff" is not a number`,
		slices("0", ".inf"):                `".inf" is not a number`,
		slices("0", "1e400"):               `"1e400" is not a number`,
		slices("-5", "2"):                  "is not a half-open range",
		slices("0", "2.5"):                 "is not a half-open range",
		slices("0", "NaN"):                 "is not a half-open range",
		// flow and block forms of the same range
		"merge_method: passthrough\nslices: [{sources: [{model: a, layer_range: [0, 99999999]}]}]\n":               "goes past the 5 layers of a",
		"merge_method: passthrough\nslices:\n- sources:\n  - model: a\n    layer_range:\n    - 0\n    - 9999999\n": "goes past the 5 layers of a",
		// a second source of a merge slice
		"merge_method: linear\nslices:\n  - sources:\n      - {model: a, layer_range: [0, 5]}\n      - {model: b, layer_range: [5, 10]}\n": "slices[0].sources[1].layer_range: [5, 10] goes past the 5 layers of b",
	}
	for y, want := range cases {
		_, err := Import([]byte(y), five)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got  %v\n want %q", y, err, want)
		}
	}
	// Many slices that each fit add up past MaxLayers.
	var b strings.Builder
	b.WriteString("merge_method: passthrough\nslices:\n")
	for i := 0; i < MaxLayers/5+1; i++ {
		b.WriteString("  - sources: [{model: a, layer_range: [0, 5]}]\n")
	}
	if _, err := Import([]byte(b.String()), five); err == nil || !strings.Contains(err.Error(), "the slices add up to more than 4096 layers") {
		t.Errorf("many slices: %v", err)
	}
	// Without layer counts the bound is MaxLayers; a model reporting an
	// absurd count is refused too.
	if _, err := Import([]byte(slices("0", "5000")), nil); err == nil || !strings.Contains(err.Error(), "goes past the 4096 layers a model may have") {
		t.Errorf("no counter: %v", err)
	}
	huge := func(string) (int, error) { return 1 << 40, nil }
	if _, err := Import([]byte("merge_method: linear\nmodels: [{model: a}]\n"), huge); err == nil || !strings.Contains(err.Error(), "a has 1099511627776 layers: a model has 1 to 4096") {
		t.Errorf("huge count: %v", err)
	}
}
