package scorer

import (
	"encoding/json"
	"math"

	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

// DocumentVersion is the version of the JSON document scorers receive.
const DocumentVersion = 1

// Document is what a scoring module reads (docs/scorer-abi.md).
type Document struct {
	Version   int                `json:"version"`
	Model     string             `json:"model"`
	Plan      *plan.Plan         `json:"plan"`                // null when a model directory was evaluated
	Tasks     []TaskDoc          `json:"tasks"`               // the candidate's results, with per-sample values
	Reference []TaskDoc          `json:"reference"`           // the reference's results (no samples), or null
	Retention map[string]float64 `json:"retention,omitempty"` // per task and "mean", when there is a reference
}

// TaskDoc is one task's results.
type TaskDoc struct {
	Name           string             `json:"name"`
	Type           string             `json:"type"`
	Weight         float64            `json:"weight"`
	Primary        string             `json:"primary"`
	HigherIsBetter bool               `json:"higher_is_better"`
	Metrics        map[string]float64 `json:"metrics"` // NaN values are left out
	N              int                `json:"n"`
	Samples        *Columns           `json:"samples,omitempty"`
}

// Columns holds per-sample values column by column (one array per field,
// one entry per sample): much faster for a guest to decode than an array
// of objects. Columns a task type does not fill are omitted.
type Columns struct {
	Index   []int       `json:"index"`
	LL      [][]float64 `json:"ll,omitempty"`
	Gold    []int       `json:"gold,omitempty"`
	Pred    []int       `json:"pred,omitempty"`
	Correct []bool      `json:"correct,omitempty"`
	Tokens  []int       `json:"tokens"`
	Bytes   []int       `json:"bytes,omitempty"`
	NLL     []float64   `json:"nll,omitempty"`
}

func columns(ss []task.Sample) *Columns {
	c := &Columns{}
	var hasLL, hasGold, hasPred, hasCorrect, hasBytes, hasNLL bool
	for _, s := range ss {
		hasLL = hasLL || s.LL != nil
		hasGold = hasGold || s.Gold != nil
		hasPred = hasPred || s.Pred != nil
		hasCorrect = hasCorrect || s.Correct != nil
		hasBytes = hasBytes || s.Bytes != 0
		hasNLL = hasNLL || s.NLL != 0
	}
	for _, s := range ss {
		c.Index = append(c.Index, s.Index)
		c.Tokens = append(c.Tokens, s.Tokens)
		if hasLL {
			c.LL = append(c.LL, s.LL)
		}
		if hasGold {
			c.Gold = append(c.Gold, deref(s.Gold, -1))
		}
		if hasPred {
			c.Pred = append(c.Pred, deref(s.Pred, -1))
		}
		if hasCorrect {
			c.Correct = append(c.Correct, deref(s.Correct, false))
		}
		if hasBytes {
			c.Bytes = append(c.Bytes, s.Bytes)
		}
		if hasNLL {
			c.NLL = append(c.NLL, s.NLL)
		}
	}
	return c
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func taskDocs(rs []*task.Result, samples bool) []TaskDoc {
	if rs == nil {
		return nil
	}
	out := make([]TaskDoc, len(rs))
	for i, r := range rs {
		met := map[string]float64{}
		for k, v := range r.Metrics {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				met[k] = v
			}
		}
		out[i] = TaskDoc{Name: r.Name, Type: r.Type, Weight: r.Weight, Primary: r.Primary, HigherIsBetter: r.HigherIsBetter, Metrics: met, N: r.NEffective}
		if samples && len(r.Samples) > 0 {
			out[i].Samples = columns(r.Samples)
		}
	}
	return out
}

// NewDocument encodes the input of a scoring call.
func NewDocument(model string, p *plan.Plan, res, ref []*task.Result) ([]byte, error) {
	d := Document{Version: DocumentVersion, Model: model, Plan: p, Tasks: taskDocs(res, true), Reference: taskDocs(ref, false)}
	if ref != nil {
		rep := task.NewReport(model, "", res, ref)
		d.Retention = map[string]float64{}
		for k, v := range rep.Retention {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				d.Retention[k] = v
			}
		}
	}
	return json.Marshal(d)
}
