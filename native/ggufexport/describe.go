package ggufexport

import (
	"fmt"
	"strings"

	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// planNotes says what a reader of the file should know about the plan:
// skipped sub-blocks and folded repairs.
func planNotes(p *plan.Plan, fits []stitch.Fitted) []string {
	var notes, skipped []string
	for i, s := range p.Slots {
		a, m := s.Blocks()
		if a.None {
			skipped = append(skipped, fmt.Sprintf("block %d attention", i))
		}
		if m.None {
			skipped = append(skipped, fmt.Sprintf("block %d MLP", i))
		}
	}
	if len(skipped) > 0 {
		notes = append(notes, "skipped sub-blocks ("+strings.Join(skipped, ", ")+") are written as zero tensors: their output projection (attn_output or ffn_down) is 0, so they add nothing to the residual stream")
	}
	if len(fits) > 0 {
		var at []string
		for _, f := range fits {
			at = append(at, fmt.Sprintf("block %d (layers %d-%d removed)", f.Cut.Slot, f.Cut.From, f.Cut.To-1))
		}
		notes = append(notes, "linear repairs (ReplaceMe) folded into ffn_down of "+strings.Join(at, ", "))
	}
	return notes
}

// description is general.description: the plan, slot by slot, and the notes.
func description(b *stitch.Builder, p *plan.Plan, notes []string) string {
	info := stitch.Info(b.Family)
	var s strings.Builder
	fmt.Fprintf(&s, "Tailored by gptailor from a family of %d models: %d of the base's %d layers.", len(b.Family.Models), len(p.Slots), info.Layers)
	for i, sl := range p.Slots {
		fmt.Fprintf(&s, " Block %d: %s.", i, strings.TrimSpace(sl.Describe()))
	}
	for _, n := range notes {
		s.WriteString(" Note: " + n + ".")
	}
	return s.String()
}
