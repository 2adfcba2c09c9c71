package plan

import "fmt"

// Repair asks for ReplaceMe's training-free linear repair at every cut of
// the plan: for each run of source layers removed after a kept layer, a
// hidden×hidden map T fitted in closed form on calibration text (the kept
// layer's MLP output times T should reach what the dense teacher's hidden
// state is after the removed run) and folded into the kept layer's
// down_proj, so the repaired model keeps the standard architecture.
type Repair struct {
	Method      string   `json:"method"`            // "linear"
	Calibration string   `json:"calibration"`       // text, or JSONL with a "text" field per line
	Samples     int      `json:"samples,omitempty"` // calibration windows; 0: DefaultRepairSamples
	Seq         int      `json:"seq,omitempty"`     // tokens per window; 0: DefaultRepairSeq (capped by the model's positions)
	Ridge       *float64 `json:"ridge,omitempty"`   // λ as a fraction of the mean diagonal of MᵀM; nil: DefaultRidge
	// Teacher is the model whose dense hidden states the repair reaches
	// for; "": the model the repaired layer's MLP comes from (a merge's base).
	Teacher string `json:"teacher,omitempty"`
}

// Repair defaults.
const (
	DefaultRepairSamples = 64 // 8,192 tokens: twice the hidden size of a 4096-wide model
	DefaultRepairSeq     = 128
	DefaultRidge         = 1e-4
)

// RepairMethods lists the repair methods.
var RepairMethods = []string{"linear"}

// SamplesOr, SeqOr and RidgeOr give the repair's settings with defaults.
func (r *Repair) SamplesOr() int {
	if r.Samples > 0 {
		return r.Samples
	}
	return DefaultRepairSamples
}

// SeqOr is the window length, default DefaultRepairSeq.
func (r *Repair) SeqOr() int {
	if r.Seq > 0 {
		return r.Seq
	}
	return DefaultRepairSeq
}

// RidgeOr is the relative ridge, default DefaultRidge.
func (r *Repair) RidgeOr() float64 { return Get(r.Ridge, DefaultRidge) }

// Cut is a run of source layers [From, To) the plan leaves out after slot
// Slot (Slot -1: before the first slot, where no kept layer can carry a
// repair). The last slot's cut runs to the model's end.
type Cut struct {
	Slot     int `json:"slot"`
	From, To int
}

// Cuts lists the plan's removed runs in a family of L layers. A slot's
// source layer is its MLP's (a merge's Layer); slots that repeat or go
// back make no cut, and a slot without MLP ends the analysis of its cut
// (it has no down_proj to repair, see checkRepair).
func (p *Plan) Cuts(L int) []Cut {
	var cuts []Cut
	prev := -1
	for i, s := range p.Slots {
		_, m := s.Blocks()
		l := m.SourceLayer()
		if l < 0 {
			a, _ := s.Blocks()
			l = a.SourceLayer()
		}
		if l > prev+1 {
			cuts = append(cuts, Cut{Slot: i - 1, From: prev + 1, To: l})
		}
		prev = max(prev, l)
	}
	if prev >= 0 && prev < L-1 {
		cuts = append(cuts, Cut{Slot: len(p.Slots) - 1, From: prev + 1, To: L})
	}
	return cuts
}

// Repairable lists the cuts a repair acts on (those after a kept slot).
func (p *Plan) Repairable(L int) []Cut {
	var out []Cut
	for _, c := range p.Cuts(L) {
		if c.Slot >= 0 {
			out = append(out, c)
		}
	}
	return out
}

func (r *reader) repair(v any, path string) *Repair {
	m := r.object(v, path, "method", "calibration", "samples", "seq", "ridge", "teacher")
	rp := &Repair{}
	if m == nil {
		return rp
	}
	if x, ok := m["method"]; ok {
		rp.Method = r.str(x, path+".method")
	} else {
		r.add(path+".method", "is missing (one of %v)", RepairMethods)
	}
	if x, ok := m["calibration"]; ok {
		rp.Calibration = r.str(x, path+".calibration")
	} else {
		r.add(path+".calibration", "is missing (a text or JSONL file of calibration text)")
	}
	if x, ok := m["samples"]; ok {
		rp.Samples = r.integer(x, path+".samples")
		if rp.Samples < 1 {
			r.add(path+".samples", "must be at least 1, is %d", rp.Samples)
		}
	}
	if x, ok := m["seq"]; ok {
		rp.Seq = r.integer(x, path+".seq")
		if rp.Seq < 2 {
			r.add(path+".seq", "must be at least 2 tokens, is %d", rp.Seq)
		}
	}
	if x, ok := m["ridge"]; ok {
		f := r.num(x, path+".ridge")
		rp.Ridge = &f
	}
	if x, ok := m["teacher"]; ok {
		rp.Teacher = r.str(x, path+".teacher")
	}
	return rp
}

// Check lists the problems of the repair's own fields (method, file,
// samples, seq, ridge), with their paths; the plan's checks add the
// teacher and the cuts.
func (r *Repair) Check() Problems {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	known := false
	for _, m := range RepairMethods {
		known = known || m == r.Method
	}
	if !known {
		add("repair.method", "unknown repair method %q (one of %v)", r.Method, RepairMethods)
	}
	if r.Calibration == "" {
		add("repair.calibration", "names no file")
	}
	if r.Samples < 0 || r.Samples > 1<<16 {
		add("repair.samples", "must lie in [1, 65536], is %d", r.Samples)
	}
	if r.Seq < 0 || r.Seq > 1<<16 {
		add("repair.seq", "must lie in [2, 65536], is %d", r.Seq)
	}
	if r.Ridge != nil && *r.Ridge < 0 {
		add("repair.ridge", "must be >= 0, is %g", *r.Ridge)
	}
	return ps
}

func (p *Plan) checkRepair(f *Family, add func(path, format string, args ...any), checkAlias func(path, a string)) {
	r := p.Repair
	for _, pr := range r.Check() {
		add(pr.Path, "%s", pr.Message)
	}
	if r.Teacher != "" {
		checkAlias("repair.teacher", r.Teacher)
	}
	if f == nil {
		return
	}
	cuts := p.Repairable(f.Layers)
	if len(cuts) == 0 {
		add("repair", "the plan removes no layer after a kept one: there is nothing to repair")
	}
	for _, c := range cuts {
		if c.Slot >= len(p.Slots) {
			continue
		}
		if _, m := p.Slots[c.Slot].Blocks(); m.None {
			add(fmt.Sprintf("slots[%d].mlp", c.Slot), "is none, so the repair of the layers removed after it (%d–%d) has no down_proj to fold into", c.From, c.To-1)
		}
	}
}
