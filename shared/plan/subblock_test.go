package plan

import (
	"encoding/json"
	"strings"
	"testing"
)

// Plans without sub-block overrides hash exactly as before sub-blocks
// existed (values computed by the previous release): caches, journals and
// run directories written before stay valid.
func TestOldPlansKeepTheirHashes(t *testing.T) {
	doc := `{"version":1,"slots":[{"take":["base",0]},{"take":["code",3]},{"merge":{"method":"ties","layer":2,"models":["code","math"],"density":0.5,"overrides":[{"filter":"mlp","lambda":0.7}]}},{"merge":{"method":"task_arithmetic","layer":1,"models":["base","code"],"layers":[1,2]}}],"embed":"code","head":{"merge":{"method":"linear","models":["code","math"]}}}`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"6af54fdaa51817d8a8ad9251f99160b8", "b3272a2949ae8390b6621b124ede7d89", "9c3cccf39379b91facd5aa46598b7d36", "547e7019bedf6347c1b9b591f54b8721"}
	for i, w := range want {
		if got := p.SlotHash(i); got != w {
			t.Errorf("slot %d hash %s, was %s", i, got, w)
		}
	}
	if p.OuterHash(p.Embed) != "9e0edce9b680226c6ce41ab5727778d6" || p.OuterHash(p.Head) != "50726006ac1057bd5ae38673f4bfec54" {
		t.Errorf("outer hashes changed: %s %s", p.OuterHash(p.Embed), p.OuterHash(p.Head))
	}
}

func TestSubBlockPlans(t *testing.T) {
	doc := `{"slots":[
		{"take":["code",3],"mlp":["math",3]},
		{"take":["base",4],"attn":"none"},
		{"merge":{"method":"task_arithmetic","layer":2,"models":["code","math"]},"mlp":{"take":{"model":"docs","layer":2}}},
		{"take":["base",1],"attn":{"merge":{"method":"ties","layer":1,"models":["code","docs"],"density":0.5}}}
	]}`
	p, err := ParseFor([]byte(doc), stories)
	if err != nil {
		t.Fatal(err)
	}
	a, m := p.Slots[0].Blocks()
	if a.Take.Model != "code" || m.Take.Model != "math" || m.Take.Layer != 3 {
		t.Errorf("slot 0 blocks %+v %+v", a.Take, m.Take)
	}
	if a, m := p.Slots[1].Blocks(); !a.None || m.Take.Model != "base" {
		t.Errorf("slot 1 blocks %+v %+v", a, m)
	}
	if got := p.Slots[0].Describe(); got != "code[3] · mlp: math[3]" {
		t.Errorf("describe %q", got)
	}
	if got := p.Slots[1].Describe(); got != "base[4] · attn: none" {
		t.Errorf("describe %q", got)
	}
	// A sub-block recipe hashes as the same recipe of a whole slot, and
	// the slot hash depends on both recipes.
	whole, _ := Parse([]byte(`{"slots":[{"take":["code",3]},{"take":["math",3]}]}`))
	if p.PartHash(a) != whole.SlotHash(0) || p.PartHash(m) != whole.SlotHash(1) {
		t.Error("a sub-block's recipe hashes differently from the whole layer's")
	}
	other, _ := Parse([]byte(`{"slots":[{"take":["math",3],"mlp":["code",3]}]}`))
	if other.SlotHash(0) == p.SlotHash(0) || p.SlotHash(0) == whole.SlotHash(0) {
		t.Error("swapping sub-blocks or dropping the override kept the hash")
	}
	// Parameters: a stories layer has 64 + 64·(64+32+32+64) = 12352
	// attention and 64 + 3·64·172 = 33088 MLP weights.
	f := *stories
	f.AttnParams, f.MLPParams = 12352, 33088
	got := p.ParamCount(&f)
	want := f.OuterParams + 4*f.LayerParams - f.AttnParams
	if got != want {
		t.Errorf("param count %d, want %d (one attention removed)", got, want)
	}
	// Round trips: Marshal/Parse and encoding/json keep every hash.
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var r Plan
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for i := range p.Slots {
		if p.SlotHash(i) != q.SlotHash(i) || p.SlotHash(i) != r.SlotHash(i) {
			t.Errorf("slot %d changed in a round trip:\n%s", i, b)
		}
	}
	if !strings.Contains(string(b), `"attn": "none"`) {
		t.Errorf("none not written as \"none\":\n%s", b)
	}
	if _, err := GenotypeOf(p, 5); err == nil || !strings.Contains(err.Error(), "slots[0]") {
		t.Errorf("sub-block plan as a genotype: %v", err)
	}
}

func TestSubBlockProblems(t *testing.T) {
	doc := `{"slots":[
		{"take":["code",3],"mlp":"nothing"},
		{"take":["code",3],"mlp":["ghost",9]},
		{"take":["base",1],"attn":"none","mlp":["code",1]},
		{"take":["base",1],"attn":{"take":["code",1],"merge":{"method":"linear","layer":1,"models":["code"]}}},
		{"take":["base",1],"mlp":{"merge":{"method":"warp","layer":1,"models":["code"]}}},
		{"take":["base",1],"attn":7}
	]}`
	_, err := ParseFor([]byte(doc), stories)
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("error %T %v", err, err)
	}
	for _, w := range []string{
		`slots[0].mlp: must be "none"`,
		`slots[1].mlp.model: unknown model "ghost"`,
		"slots[1].mlp.layer: layer 9 out of range [0, 5)",
		"slots[2]: gives both attn and mlp",
		"slots[3].attn: needs exactly one of take and merge",
		`slots[4].mlp.merge.method: unknown merge method "warp"`,
		"slots[5].attn: must be \"none\", [model, layer], {\"take\": ...} or {\"merge\": ...}, is a number",
	} {
		if !strings.Contains(ps.Error(), w) {
			t.Errorf("missing %q in\n%s", w, ps.Error())
		}
	}
	// An architecture whose layers cannot be split refuses sub-blocks.
	f := *stories
	f.NoSubBlocks = "parallel attention and MLP share one input norm"
	_, err = ParseFor([]byte(`{"slots":[{"take":["base",0],"attn":"none"}]}`), &f)
	if err == nil || !strings.Contains(err.Error(), "slots[0].attn: this family's layers have no separate attention and MLP sub-blocks: parallel") {
		t.Errorf("sub-blocks on an unsplittable family: %v", err)
	}
}
