package plan

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var stories = &Family{Models: []string{"base", "code", "docs", "math"}, Layers: 5, LayerParams: 45440, OuterParams: 512*64 + 64}

// The golden plans' slots parse as our slots.
func TestGoldenPlansParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Plans []struct {
			Name  string          `json:"name"`
			Slots json.RawMessage `json:"slots"`
		} `json:"plans"`
	}
	json.Unmarshal(raw, &g)
	if len(g.Plans) != 8 {
		t.Fatalf("%d plans", len(g.Plans))
	}
	for _, gp := range g.Plans {
		doc := `{"version":1,"name":"` + gp.Name + `","slots":` + string(gp.Slots) + `}`
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", gp.Name, err)
		}
		if err := Validate(p, stories); err != nil {
			t.Errorf("%s: %v", gp.Name, err)
		}
		// Marshal and parse again: the same recipes.
		b, _ := Marshal(p)
		q, err := Parse(b)
		if err != nil {
			t.Fatalf("%s round trip: %v\n%s", gp.Name, err, b)
		}
		for i := range p.Slots {
			if p.SlotHash(i) != q.SlotHash(i) {
				t.Errorf("%s slot %d changed in a JSON round trip", gp.Name, i)
			}
		}
	}
}

func TestProblemsListedWithPaths(t *testing.T) {
	doc := `{"version":1,"models":{"base":"b","code":"c"},"slots":[
		{"take":["base",7]},
		{"take":["nope",1]},
		{"merge":{"method":"ties","layer":2,"models":["code","ghost"],"density":-0.5}},
		{"merge":{"method":"model_stock","layer":1,"models":["code"]}},
		{"merge":{"method":"slerp","layer":1,"models":["code"]}},
		{"merge":{"method":"warp","layer":1,"models":["code"]}},
		{"take":["base",1],"merge":{}},
		{"merge":{"method":"linear","layer":0,"models":["base","code"],"weights":[1]}},
		{"merge":{"method":"task_arithmetic","layer":1,"models":["base","base","code"],"layers":[2,2,9]}},
		{"merge":{"method":"task_arithmetic","layer":1,"models":["base","code"],"layers":[2]}}
	],"embed":{"model":"zzz"},"head":{"merge":{"method":"linear","models":["base"],"layers":[1]}}}`
	_, err := ParseFor([]byte(doc), &Family{Models: []string{"base", "code"}, Layers: 5})
	{
		ps, ok := err.(Problems)
		if !ok {
			t.Fatalf("error %T %v", err, err)
		}
		want := []string{
			"slots[0].take.layer: layer 7 out of range",
			`slots[1].take.model: unknown model "nope"`,
			`slots[2].merge.models[1]: unknown model "ghost"`,
			"slots[2].merge.density: density = -0.5 must lie in [0, 1]",
			"slots[3].merge.models: model_stock needs at least 2 model(s), has 1",
			"slots[4].merge.t: slerp needs t in [0, 1]",
			`slots[5].merge.method: unknown merge method "warp"`,
			"slots[6]: needs exactly one of take and merge",
			"slots[7].merge.weights: has 1 values for 2 models",
			"slots[8].merge.layers[2]: layer 9 out of range",
			`slots[8].merge.models[1]: layer 2 of model "base" appears twice`,
			"slots[9].merge.layers: has 1 values for 2 models",
			"head.merge.layers: is for slots only",
			`embed.model: unknown model "zzz"`,
		}
		text := ps.Error()
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("missing problem %q in:\n%s", w, text)
			}
		}
	}
}

func TestStructuralErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`[1]`:                               "must be an object, is a list",
		`{"slots":[]}`:                      "slots: the plan has no slots",
		`{}`:                                "slots: is missing",
		`{"version":2,"slots":[]}`:          "version: plan format 2 is not supported",
		`{"slots":[{"take":["base",1.5]}]}`: "slots[0].take[1]: must be a whole number",
		`{"slots":[{"take":["base"]}]}`:     "slots[0].take: must be [model, layer], has 1 elements",
		`{"slots":[{"take":{"model":"base","layer":1,"x":2}}]}`:                            "slots[0].take.x: unknown field",
		`{"slots":[{"merge":{"method":"linear","models":["base"]}}]}`:                      "slots[0].merge.layer: is missing",
		`{"slots":[{"take":["base",0]}],"colour":"red"}`:                                   "colour: unknown field",
		`{"slots":[{"merge":{"method":"linear","layer":0,"models":"base"}}]}`:              "slots[0].merge.models: must be a list",
		`{"slots":[{"merge":{"method":"linear","layer":0,"models":["base"],"layers":3}}]}`: "slots[0].merge.layers: must be a list of layer indices",
		`{"slots":[{"take":["base",0]}]} trailing`:                                         "trailing data",
		`{"slots":[{"merge":{"method":"slerp","layer":0,"models":["base"],"t":0.5}}]}`:     "slerp between the base and itself",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\n want %q", doc, err, want)
		}
	}
}

func TestDerivedFacts(t *testing.T) {
	p, err := Parse([]byte(`{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.ParamCount(stories), int64(4*45440+512*64+64); got != want {
		t.Errorf("params %d, want %d", got, want)
	}
	if got := p.FractionRemoved(stories); got < 0.17 || got > 0.18 { // 45440 / 259,968
		t.Errorf("fraction removed %g", got)
	}
	// Hashes: equal recipes hash equal, any parameter changes them.
	a := &Plan{Slots: []Slot{{Merge: &Merge{Method: "ties", Layer: 1, Models: []string{"code", "math"}, Params: Params{Density: Ptr(0.5)}}}}}
	b := &Plan{Slots: []Slot{{Merge: &Merge{Method: "ties", Layer: 1, Models: []string{"code", "math"}, Params: Params{Density: Ptr(0.5)}}}}}
	c := &Plan{Slots: []Slot{{Merge: &Merge{Method: "ties", Layer: 1, Models: []string{"code", "math"}, Params: Params{Density: Ptr(0.6)}}}}}
	if a.SlotHash(0) != b.SlotHash(0) || a.SlotHash(0) == c.SlotHash(0) {
		t.Error("slot hashes do not follow the recipe")
	}
	// Models named by directory hash the same under different aliases.
	d := &Plan{Models: map[string]string{"x": "/m/code"}, Slots: []Slot{{Take: &Take{Model: "x", Layer: 2}}}}
	e := &Plan{Models: map[string]string{"code": "/m/code"}, Slots: []Slot{{Take: &Take{Model: "code", Layer: 2}}}}
	if d.SlotHash(0) != e.SlotHash(0) {
		t.Error("aliases changed the hash")
	}
}

func TestGenotypeRoundTrip(t *testing.T) {
	g := &Genotype{Layers: 5, Removed: []int{2},
		Subsets: [][]string{{"math"}, nil, {"code"}, {"docs", "code"}, nil},
		Lambdas: []float64{0, 0, 0, 0.7, 0}}
	p, err := g.Plan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(p, stories); err != nil {
		t.Fatal(err)
	}
	want := []string{"math[0]", "base[1]", "task_arithmetic(code+docs)[3] λ=0.7", "base[4]"}
	for i, s := range p.Slots {
		if got := strings.TrimSpace(s.Describe()); got != want[i] {
			t.Errorf("slot %d: %q, want %q", i, got, want[i])
		}
	}
	// The merge's base tensor is read at the source index 3, not output slot 2.
	if p.Slots[2].Merge.Layer != 3 || p.Embed.Model != "math" || p.Head.Model != "base" {
		t.Errorf("plan %+v", p)
	}
	back, err := GenotypeOf(p, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Removed) != 1 || back.Removed[0] != 2 || back.Lambdas[3] != 0.7 || strings.Join(back.Subsets[3], ",") != "code,docs" {
		t.Errorf("round trip %+v", back)
	}
	p.Slots[0], p.Slots[1] = p.Slots[1], p.Slots[0]
	if _, err := GenotypeOf(p, 5); err == nil {
		t.Error("reordered plan accepted as a genotype")
	}
}

// shared/ must build for the browser: no os, no cgo.
func TestBuildsForWasm(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", os.DevNull, "./...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build ./shared/...: %v\n%s", err, out)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"slots":[{"take":["base",0]},{"merge":{"method":"ties","layer":1,"models":["code","math"],"density":0.5,"lambda":1}}]}`))
	f.Add([]byte(`{"slots":[{"merge":{"method":"slerp","layer":0,"models":["math"],"t":0.3,"overrides":[{"filter":"mlp","t":0.7}]}}],"embed":"base","head":{"merge":{"method":"linear","models":["base","code"]}}}`))
	f.Add([]byte(`{"models":{"base":"/b"},"slots":[{"take":{"model":"base","layer":3}}]}`))
	f.Add([]byte(`{"slots":[{"merge":{"method":"task_arithmetic","layer":1,"models":["base","base"],"layers":[2,3],"weights":[1,-1],"lambda":1,"overrides":[{"filter":"norm","lambda":0}]}}]}`))
	f.Add([]byte(`{"slots":[{"take":["code",3],"mlp":["math",3]},{"take":["base",5],"attn":"none"},{"merge":{"method":"linear","layer":1,"models":["a","b"]},"mlp":{"merge":{"method":"ties","layer":2,"models":["c"]}}}]}`))
	f.Add([]byte(`{"slots":[{"take":["base",1],"mlp":{"take":["code",1]},"attn":"none"},{"take":["base",2],"mlp":"nothing"}],"repair":{"method":"linear","calibration":"c.txt","samples":4}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		for i := range p.Slots {
			if p.SlotHash(i) != q.SlotHash(i) {
				t.Fatalf("slot %d changed in a round trip", i)
			}
		}
		if n := p.ParamCount(stories); n < stories.OuterParams || n > stories.OuterParams+int64(len(p.Slots))*stories.LayerParams {
			t.Fatalf("parameter count %d outside [outer, outer + slots × layer]", n)
		}
	})
}

// A marshalled plan decodes with encoding/json as well (the app's undo
// stack and wire messages rely on it).
func TestEncodingJSONRoundTrip(t *testing.T) {
	p := &Plan{Version: 1, Slots: []Slot{{Take: &Take{Model: "code", Layer: 3}}, {Merge: &Merge{Method: "ties", Layer: 1, Models: []string{"a", "b"}, Params: Params{Density: Ptr(0.5)}}}}}
	b, _ := json.Marshal(p)
	var q Plan
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.SlotHash(0) != p.SlotHash(0) || q.SlotHash(1) != p.SlotHash(1) {
		t.Errorf("round trip changed %s", b)
	}
	var tk Take
	if err := json.Unmarshal([]byte(`{"model":"x","layer":2}`), &tk); err != nil || tk.Model != "x" || tk.Layer != 2 {
		t.Errorf("object form: %+v %v", tk, err)
	}
}
