package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// repairFlags adds --repair FILE and --repair-samples N to fs; the function
// returned gives the repair they ask for (nil without --repair), with the
// file's absolute path so a run resumed elsewhere finds it.
func repairFlags(fs *flag.FlagSet, usage string) func() *plan.Repair {
	file := fs.String("repair", "", usage)
	samples := fs.Int("repair-samples", plan.DefaultRepairSamples, "with --repair: calibration windows of 128 tokens the repair is fitted on")
	return func() *plan.Repair {
		if *file == "" {
			return nil
		}
		abs, err := filepath.Abs(*file)
		if err != nil {
			abs = *file
		}
		return &plan.Repair{Method: "linear", Calibration: abs, Samples: *samples}
	}
}

// withRepairFlag gives p the repair --repair asks for, refusing a plan
// with nothing to repair or one that has its own repair.
func withRepairFlag(p *plan.Plan, r *plan.Repair, f *model.Family) (*plan.Plan, error) {
	if p.Repair != nil {
		return nil, fmt.Errorf("--repair: the plan has its own repair (on %s); leave one out", p.Repair.Calibration)
	}
	q := session.WithRepair(p, r, f.Base().Config.NumHiddenLayers)
	if q == p {
		return nil, fmt.Errorf("--repair: the plan removes no layer after a kept one: there is nothing to repair")
	}
	return q, nil
}

func repairString(r *plan.Repair) string {
	if r == nil {
		return "no repair"
	}
	return fmt.Sprintf("%s on %s (%d samples)", r.Method, r.Calibration, r.SamplesOr())
}

// checkedRepair fits p's repair, checks it on the calibration windows the
// fit never read and says on stderr how it fared; p is returned without
// its repair when the repair made those windows worse (what build writes,
// prune prints and a net of p runs).
func checkedRepair(b *stitch.Builder, p *plan.Plan, stderr io.Writer) (*plan.Plan, stitch.RepairCheck, error) {
	if p.Repair == nil {
		return p, stitch.RepairCheck{}, nil
	}
	c, err := b.CheckRepair(p)
	if err != nil {
		return nil, c, err
	}
	fmt.Fprintf(stderr, "%s\n", c)
	if c.Kept {
		return p, c, nil
	}
	q := *p
	q.Repair = nil
	return &q, c, nil
}
