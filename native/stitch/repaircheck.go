package stitch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/shared/plan"
)

// A repair fitted on degenerate calibration text (one repeated character,
// bytes that are not UTF-8, ridge 0) can make the model worse than no
// repair at all: the fit has no way to know. So the calibration windows
// are split: the repair is fitted on the first ones and the repaired plan
// is compared with the unrepaired one on the windows after them, which the
// fit never read; the better of the two is what the net (and build) uses.

// HeldOutWindows is how many calibration windows past a repair's samples
// are kept out of the fit to check it: a quarter of them, at least one.
func HeldOutWindows(samples int) int { return max(1, samples/4) }

// CalibrationWindows is how many windows a repair's calibration reader
// should give: the samples the fit takes and the held-out ones after them.
func CalibrationWindows(r *plan.Repair) int {
	return r.SamplesOr() + HeldOutWindows(r.SamplesOr())
}

// SplitCalibration splits the windows a calibration reader gave into the
// ones a repair is fitted on and the held-out ones it is checked on. With
// the samples and the held-out windows both there, the first `samples`
// are fitted on and the next HeldOutWindows(samples) held out; a file with
// fewer windows holds out its last fifth (at least one); a single window
// is all fitted on and nothing is held out (the check is skipped, said so).
func SplitCalibration(w [][]int, samples int) (fit, held [][]int) {
	h := HeldOutWindows(samples)
	n := len(w)
	switch {
	case n >= samples+h:
		return w[:samples], w[samples : samples+h]
	case n < 2:
		return w, nil
	default:
		k := max(1, n/5)
		return w[:n-k], w[n-k:]
	}
}

// RepairCheck is how a plan's repair fared on the held-out calibration
// windows: the mean token NLL with and without it, and whether it was kept.
type RepairCheck struct {
	Windows     int     `json:"windows"` // held-out windows (0: not checked)
	Tokens      int     `json:"tokens"`  // tokens predicted on them
	RepairedNLL float64 `json:"repaired_nll"`
	PlainNLL    float64 `json:"unrepaired_nll"`
	Kept        bool    `json:"kept"` // false: the repair made the held-out NLL worse and is left out
}

// String says what the check found.
func (c RepairCheck) String() string {
	switch {
	case c.Windows == 0:
		return "repair kept unchecked: the calibration text gives a single window, none left to hold out"
	case c.Kept:
		return fmt.Sprintf("repair kept: held-out calibration NLL %.4f repaired, %.4f unrepaired (%d windows, %d tokens the fit never read)", c.RepairedNLL, c.PlainNLL, c.Windows, c.Tokens)
	default:
		return fmt.Sprintf("repair left out: it makes the held-out calibration NLL worse, %s repaired against %.4f unrepaired (%d windows, %d tokens the fit never read); the plan is used without it (degenerate calibration text? give varied text)", fmtNLL(c.RepairedNLL), c.PlainNLL, c.Windows, c.Tokens)
	}
}

func fmtNLL(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%.4f", v)
}

// CheckRepair fits p's repair (or finds it in the cache) and returns how it
// fared on the held-out windows; a plan without a repair gives a zero
// check. Build, eval --plan and prune call it to say so and to drop a
// repair that was left out; nets built from p use the same verdict.
func (b *Builder) CheckRepair(p *plan.Plan) (RepairCheck, error) {
	if p.Repair == nil {
		return RepairCheck{}, nil
	}
	_, _, c, err := b.netChecked(p)
	return c, err
}

// checkRepair compares the repaired layers with the plain ones on the
// held-out windows (the verdict is cached under the repaired net's keys).
func (b *Builder) checkRepair(p *plan.Plan, head *engine.Head, plain, repaired []*engine.Layer, keys []string) (RepairCheck, error) {
	w, err := b.Calibrate(p.Repair)
	if err != nil {
		return RepairCheck{}, fmt.Errorf("repair.calibration: %w", err)
	}
	_, held := SplitCalibration(w, p.Repair.SamplesOr())
	c := RepairCheck{Windows: len(held), Kept: true}
	if len(held) == 0 {
		return c, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "check|embed=%s|head=%s|%s|held=%s", p.OuterHash(p.Embed), p.OuterHash(p.Head), strings.Join(keys, ";"), tokensKey(held))
	key := hex.EncodeToString(h.Sum(nil)[:16])
	if v, ok := b.checks.get(key); ok {
		return v, nil
	}
	cfg := b.Family.Base().Config
	if c.RepairedNLL, c.Tokens, err = meanNLL(engine.NewNet(cfg, head, repaired), held); err != nil {
		return c, fmt.Errorf("repair check, repaired: %w", err)
	}
	if c.PlainNLL, _, err = meanNLL(engine.NewNet(cfg, head, plain), held); err != nil {
		return c, fmt.Errorf("repair check, unrepaired: %w", err)
	}
	// A NaN repaired NLL is never the better one.
	c.Kept = c.RepairedNLL <= c.PlainNLL
	b.checks.put(key, c)
	b.stats.mu.Lock()
	b.stats.Checked++
	if !c.Kept {
		b.stats.LeftOut++
	}
	b.stats.mu.Unlock()
	return c, nil
}

// meanNLL is net's mean token NLL over the windows, in groups.
func meanNLL(net *engine.Net, windows [][]int) (float64, int, error) {
	sum, n := 0.0, 0
	for lo := 0; lo < len(windows); lo += group {
		lps, err := net.LogProbs(windows[lo:min(lo+group, len(windows))])
		if err != nil {
			return 0, 0, err
		}
		for _, lp := range lps {
			for _, v := range lp {
				sum -= v
				n++
			}
		}
	}
	if n == 0 {
		return math.NaN(), 0, nil
	}
	return sum / float64(n), n, nil
}
