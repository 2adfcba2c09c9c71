package plan

import (
	"encoding/json"
	"fmt"
)

// Part is the recipe of one sub-block of a slot (its attention or its MLP):
// None (the sub-block is skipped: the residual stream passes through), a
// take of a source layer's sub-block, or a merge of it.
//
// In JSON: "none", ["model", layer], {"take": ["model", layer]} or
// {"merge": {...}} (the merge form of a slot).
type Part struct {
	None  bool
	Take  *Take
	Merge *Merge
}

// Blocks is the recipe of the slot's attention and of its MLP: the slot's
// take or merge unless Attn or MLP overrides it.
func (s Slot) Blocks() (attn, mlp Part) {
	whole := Part{Take: s.Take, Merge: s.Merge}
	attn, mlp = whole, whole
	if s.Attn != nil {
		attn = *s.Attn
	}
	if s.MLP != nil {
		mlp = *s.MLP
	}
	return attn, mlp
}

// Split reports whether the slot's sub-blocks have different recipes.
func (s Slot) Split() bool { return s.Attn != nil || s.MLP != nil }

// SourceLayer is the source layer of the recipe (a merge's Layer), or -1
// for none.
func (pt Part) SourceLayer() int {
	switch {
	case pt.Take != nil:
		return pt.Take.Layer
	case pt.Merge != nil:
		return pt.Merge.Layer
	}
	return -1
}

// MarshalJSON writes "none", [model, layer] or {"merge": ...}.
func (pt Part) MarshalJSON() ([]byte, error) {
	switch {
	case pt.None:
		return json.Marshal("none")
	case pt.Take != nil:
		return json.Marshal(pt.Take)
	}
	return json.Marshal(struct {
		Merge *Merge `json:"merge"`
	}{pt.Merge})
}

// UnmarshalJSON reads every form MarshalJSON writes and {"take": ...}
// (Parse is the checked path for user input).
func (pt *Part) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "none" {
			return fmt.Errorf(`a sub-block is "none", [model, layer] or {"merge": ...}, not %q`, s)
		}
		*pt = Part{None: true}
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(b, &arr) == nil {
		var t Take
		if err := t.UnmarshalJSON(b); err != nil {
			return err
		}
		*pt = Part{Take: &t}
		return nil
	}
	var obj struct {
		Take  *Take  `json:"take"`
		Merge *Merge `json:"merge"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	if (obj.Take == nil) == (obj.Merge == nil) {
		return fmt.Errorf("a sub-block object needs exactly one of take and merge")
	}
	*pt = Part{Take: obj.Take, Merge: obj.Merge}
	return nil
}

// part reads a sub-block's recipe.
func (r *reader) part(v any, path string) *Part {
	switch x := v.(type) {
	case string:
		if x != "none" {
			r.add(path, `must be "none", [model, layer], {"take": ...} or {"merge": ...}, is the string %q`, x)
		}
		return &Part{None: true}
	case []any:
		return &Part{Take: r.take(v, path)}
	case map[string]any:
		m := r.object(v, path, "take", "merge")
		t, hasTake := m["take"]
		mg, hasMerge := m["merge"]
		if hasTake == hasMerge {
			r.add(path, "needs exactly one of take and merge")
		}
		pt := &Part{}
		if hasTake {
			pt.Take = r.take(t, path+".take")
		}
		if hasMerge {
			pt.Merge = r.merge(mg, path+".merge", true)
		}
		return pt
	}
	r.add(path, `must be "none", [model, layer], {"take": ...} or {"merge": ...}, is %s`, kind(v))
	return &Part{None: true}
}

// checkBlocks lists the problems of a slot's sub-block overrides.
func (s Slot) checkBlocks(path string, f *Family, add func(path, format string, args ...any), checkPart func(path string, pt *Part)) {
	if !s.Split() {
		return
	}
	if f != nil && f.NoSubBlocks != "" {
		key := "attn"
		if s.Attn == nil {
			key = "mlp"
		}
		add(path+"."+key, "this family's layers have no separate attention and MLP sub-blocks: %s", f.NoSubBlocks)
		return
	}
	if s.Attn != nil && s.MLP != nil {
		add(path, "gives both attn and mlp, so its take/merge is unused: give one sub-block as the slot's take or merge and override the other")
	}
	for _, o := range []struct {
		key string
		pt  *Part
	}{{"attn", s.Attn}, {"mlp", s.MLP}} {
		if o.pt == nil {
			continue
		}
		p := path + "." + o.key
		switch {
		case o.pt.None && (o.pt.Take != nil || o.pt.Merge != nil), !o.pt.None && (o.pt.Take == nil) == (o.pt.Merge == nil):
			add(p, "needs exactly one of none, take and merge")
		case !o.pt.None:
			checkPart(p, o.pt)
		}
	}
}
