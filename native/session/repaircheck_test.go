package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

// A repair fitted on one repeated character makes the held-out calibration
// windows worse (2.74 against 0.46 without it, for the cut of layers 2–3):
// it is left out, the net of the plan is the unrepaired plan's exactly,
// and the stats count it. A repair on the stories text is kept.
func TestDegenerateRepairLeftOut(t *testing.T) {
	f, _ := demoSession(t, FamilyOptions{}, "base")
	rep := filepath.Join(t.TempDir(), "rep.txt")
	if err := os.WriteFile(rep, []byte(strings.Repeat("a", 400000)), 0o644); err != nil {
		t.Fatal(err)
	}
	withCalib := func(calib string) *plan.Plan {
		p, err := plan.Parse([]byte(`{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",4]}],"repair":{"method":"linear","calibration":"` + calib + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := withCalib(rep)
	c, err := f.Builder.CheckRepair(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", c)
	if c.Kept || c.Windows != 16 || c.Tokens != 16*127 || !(c.RepairedNLL > c.PlainNLL) {
		t.Fatalf("check %+v: want the repair left out on 16 held-out windows of 127 predicted tokens, repaired NLL above unrepaired", c)
	}
	if !strings.Contains(c.String(), "repair left out: it makes the held-out calibration NLL worse") {
		t.Errorf("message %q", c)
	}
	net, err := f.Builder.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Repair = nil
	plain, err := f.Builder.Net(&q)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := heldOutNLL(t, f, net), heldOutNLL(t, f, plain); a != b {
		t.Errorf("held-out stories NLL %.6f with the left-out repair, %.6f without: the net must be the unrepaired one", a, b)
	}
	if fits, err := f.Builder.Repairs(p); err != nil || len(fits) != 0 {
		t.Errorf("Repairs of a left-out repair: %d fits, %v; want none (build writes the plain weights)", len(fits), err)
	}
	if rs := f.Builder.RepairStats(); rs.Checked != 1 || rs.LeftOut != 1 {
		t.Errorf("stats %+v: want 1 checked, 1 left out (the verdict is cached)", rs)
	}
	good, err := f.Builder.CheckRepair(withCalib(filepath.Join(repoData, "data", "stories.jsonl")))
	if err != nil {
		t.Fatal(err)
	}
	if !good.Kept || !(good.RepairedNLL < good.PlainNLL) {
		t.Errorf("stories calibration: %+v, want the repair kept", good)
	}
}
