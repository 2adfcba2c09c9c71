package editor

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/gptailor/gptailor/shared/plan"
)

// Editor is the plan being edited, its undo and redo history and the
// selected slot. Every edit the app offers — from the grid, the diagram,
// the side panel or the keyboard — is one method here, so the same edit
// gives the same plan whichever control made it. An edit that fails leaves
// the plan and the history as they were and returns an error naming the
// slot and the problem.
type Editor struct {
	Plan     *plan.Plan
	Selected int // -1: none
	undo     []*plan.Plan
	redo     []*plan.Plan
}

// NewEditor edits p (nil: an empty plan).
func NewEditor(p *plan.Plan) *Editor {
	if p == nil {
		p = &plan.Plan{Version: plan.Version}
	}
	return &Editor{Plan: p, Selected: -1}
}

// BasePlan is the family's base model as a plan: every layer taken from
// the base, the starting point of a new session.
func BasePlan(fam *plan.Family) *plan.Plan {
	p := &plan.Plan{Version: plan.Version}
	for i := 0; i < fam.Layers; i++ {
		p.Slots = append(p.Slots, plan.Slot{Take: &plan.Take{Model: plan.BaseAlias, Layer: i}})
	}
	return p
}

// Clone is a deep copy of p.
func Clone(p *plan.Plan) *plan.Plan {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a plan always marshals
	}
	var q plan.Plan
	if err := json.Unmarshal(b, &q); err != nil {
		panic(err)
	}
	return &q
}

// apply runs f on a copy of the plan; on success the copy becomes the plan
// and the old one an undo point.
func (e *Editor) apply(f func(p *plan.Plan) error) error {
	next := Clone(e.Plan)
	if err := f(next); err != nil {
		return err
	}
	e.undo = append(e.undo, e.Plan)
	e.redo = nil
	e.Plan = next
	e.clampSelection()
	return nil
}

func (e *Editor) clampSelection() {
	if e.Selected >= len(e.Plan.Slots) {
		e.Selected = len(e.Plan.Slots) - 1
	}
}

func (e *Editor) slot(p *plan.Plan, i int) (*plan.Slot, error) {
	if i < 0 || i >= len(p.Slots) {
		return nil, fmt.Errorf("slot %d: the plan has %d slots", i, len(p.Slots))
	}
	return &p.Slots[i], nil
}

// Replace makes p the plan (an opened file, a trial loaded), undoably.
func (e *Editor) Replace(p *plan.Plan) {
	_ = e.apply(func(q *plan.Plan) error { *q = *Clone(p); return nil })
	e.Selected = -1
}

// CanUndo and CanRedo say whether Undo and Redo have anything to do.
func (e *Editor) CanUndo() bool { return len(e.undo) > 0 }
func (e *Editor) CanRedo() bool { return len(e.redo) > 0 }

// Undo returns to the plan before the last edit.
func (e *Editor) Undo() error {
	if len(e.undo) == 0 {
		return fmt.Errorf("nothing to undo")
	}
	e.redo = append(e.redo, e.Plan)
	e.Plan = e.undo[len(e.undo)-1]
	e.undo = e.undo[:len(e.undo)-1]
	e.clampSelection()
	return nil
}

// Redo makes the last undone edit again.
func (e *Editor) Redo() error {
	if len(e.redo) == 0 {
		return fmt.Errorf("nothing to redo")
	}
	e.undo = append(e.undo, e.Plan)
	e.Plan = e.redo[len(e.redo)-1]
	e.redo = e.redo[:len(e.redo)-1]
	e.clampSelection()
	return nil
}

// Select selects slot i (-1: none).
func (e *Editor) Select(i int) {
	if i < -1 || i >= len(e.Plan.Slots) {
		i = -1
	}
	e.Selected = i
}

// Take makes slot i run model's layer (the slot's source layer) as is;
// see Drop.
func (e *Editor) Take(i int, model string) error {
	s, err := e.slot(e.Plan, i)
	if err != nil {
		return err
	}
	return e.Drop(i, model, sourceLayer(*s), false)
}

// Drop is the edit of a source block (model, layer) dropped on slot i:
// without add the slot takes that layer as is (sub-block overrides go
// too); with add the model joins the slot's merge (see Drop in diagram.go
// for the rules). The slot becomes the selection.
func (e *Editor) Drop(i int, model string, layer int, add bool) error {
	err := e.apply(func(p *plan.Plan) error { return Drop(p, i, model, layer, add) })
	if err == nil {
		e.Selected = i
	}
	return err
}

// ToggleMerge adds model to slot i's merge, or removes it when it is in
// already. Adding is Drop with add on the slot's source layer (a take
// becomes a task-arithmetic merge at λ 1; the base is refused: it is every
// merge's reference already); removing the last model leaves the base's
// layer.
func (e *Editor) ToggleMerge(i int, model string) error {
	s, err := e.slot(e.Plan, i)
	if err != nil {
		return err
	}
	if s.Merge == nil || indexOf(s.Merge.Models, model) < 0 {
		return e.Drop(i, model, sourceLayer(*s), true)
	}
	return e.apply(func(p *plan.Plan) error {
		s := &p.Slots[i]
		m := s.Merge
		k := indexOf(m.Models, model)
		m.Models = append(m.Models[:k], m.Models[k+1:]...)
		// Per-model lists stay aligned with the models.
		if k < len(m.Weights) {
			m.Weights = append(m.Weights[:k], m.Weights[k+1:]...)
		}
		if k < len(m.Layers) {
			m.Layers = append(m.Layers[:k], m.Layers[k+1:]...)
		}
		if len(m.Models) == 0 {
			s.Take, s.Merge = &plan.Take{Model: plan.BaseAlias, Layer: m.Layer}, nil
		}
		return nil
	})
}

// Remove deletes slot i.
func (e *Editor) Remove(i int) error {
	return e.apply(func(p *plan.Plan) error {
		if _, err := e.slot(p, i); err != nil {
			return err
		}
		p.Slots = append(p.Slots[:i], p.Slots[i+1:]...)
		return nil
	})
}

// Duplicate inserts a copy of slot i after it.
func (e *Editor) Duplicate(i int) error {
	return e.apply(func(p *plan.Plan) error {
		s, err := e.slot(p, i)
		if err != nil {
			return err
		}
		c := Clone(&plan.Plan{Slots: []plan.Slot{*s}}).Slots[0]
		p.Slots = append(p.Slots[:i+1], append([]plan.Slot{c}, p.Slots[i+1:]...)...)
		return nil
	})
}

// Insert adds a slot after slot i (-1: at the end): the base's layer
// after the previous slot's source layer (the last layer when that one is
// the last), so a slot inserted between two kept layers restores the one
// between them.
func (e *Editor) Insert(i int, fam *plan.Family) error {
	return e.apply(func(p *plan.Plan) error {
		if i < -1 || i >= len(p.Slots) {
			return fmt.Errorf("insert after slot %d: the plan has %d slots", i, len(p.Slots))
		}
		at := i + 1
		if i == -1 {
			at = len(p.Slots)
		}
		layer := 0
		if at > 0 {
			layer = min(sourceLayer(p.Slots[at-1])+1, max(fam.Layers-1, 0))
		}
		s := plan.Slot{Take: &plan.Take{Model: plan.BaseAlias, Layer: layer}}
		p.Slots = append(p.Slots[:at], append([]plan.Slot{s}, p.Slots[at:]...)...)
		return nil
	})
}

// Move moves slot from to position to; up and down, the keyboard and a
// slot dragged onto another all move this way. The moved slot stays
// selected.
func (e *Editor) Move(from, to int) error {
	err := e.apply(func(p *plan.Plan) error { return Move(p, from, to) })
	if err == nil {
		e.Selected = to
	}
	return err
}

// SetLayer sets slot i's source layer.
func (e *Editor) SetLayer(i, layer int, fam *plan.Family) error {
	if layer < 0 || layer >= fam.Layers {
		return fmt.Errorf("slot %d: layer %d is not one of the family's 0…%d", i, layer, fam.Layers-1)
	}
	return e.apply(func(p *plan.Plan) error {
		s, err := e.slot(p, i)
		if err != nil {
			return err
		}
		if s.Take != nil {
			s.Take.Layer = layer
		} else {
			s.Merge.Layer = layer
		}
		return nil
	})
}

// mergeOf is slot i's merge, or an error saying it has none.
func (e *Editor) mergeOf(p *plan.Plan, i int) (*plan.Merge, error) {
	s, err := e.slot(p, i)
	if err != nil {
		return nil, err
	}
	if s.Merge == nil {
		return nil, fmt.Errorf("slot %d takes a layer as is: it has no merge to set", i)
	}
	return s.Merge, nil
}

// SetScale sets the scalar of slot i's merge its method takes (the
// registry's Scale): λ, or t for slerp.
func (e *Editor) SetScale(i int, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("slot %d: λ %v is not a number", i, v)
	}
	return e.apply(func(p *plan.Plan) error {
		m, err := e.mergeOf(p, i)
		if err != nil {
			return err
		}
		switch m.Info().Scale {
		case "t":
			if v < 0 || v > 1 {
				return fmt.Errorf("slot %d: t %v is outside 0…1", i, v)
			}
			m.T = &v
		case "lambda":
			m.Lambda = &v
		default:
			return fmt.Errorf("slot %d: %s takes no λ", i, m.Method)
		}
		return nil
	})
}

// SetDensity sets the density of slot i's merge (methods that sparsify).
func (e *Editor) SetDensity(i int, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("slot %d: density %v is outside 0…1", i, v)
	}
	return e.apply(func(p *plan.Plan) error {
		m, err := e.mergeOf(p, i)
		if err != nil {
			return err
		}
		if !m.Info().Density {
			return fmt.Errorf("slot %d: %s takes no density", i, m.Method)
		}
		m.Density = &v
		return nil
	})
}

// SetMethod sets the method of slot i's merge; a method whose scale is t
// starts at t 0.5.
func (e *Editor) SetMethod(i int, method string) error {
	info, ok := plan.LookupMethod(method)
	if !ok {
		return fmt.Errorf("slot %d: unknown merge method %q (one of %v)", i, method, plan.MethodNames())
	}
	return e.apply(func(p *plan.Plan) error {
		m, err := e.mergeOf(p, i)
		if err != nil {
			return err
		}
		m.Method = method
		if info.Scale == "t" && m.T == nil {
			m.T = plan.Ptr(0.5)
		}
		return nil
	})
}

// SetWeight sets the weight of the k-th model of slot i's merge.
func (e *Editor) SetWeight(i, k int, w float64) error {
	return e.apply(func(p *plan.Plan) error { return SetWeight(p, i, k, w) })
}

// SetSubBlock sets slot i's attention or MLP sub-block (see SetSubBlock).
func (e *Editor) SetSubBlock(i int, which, value string) error {
	return e.apply(func(p *plan.Plan) error { return SetSubBlock(p, i, which, value) })
}

func sourceLayer(s plan.Slot) int {
	if s.Take != nil {
		return s.Take.Layer
	}
	return s.Merge.Layer
}
