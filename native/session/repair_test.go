package session

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// heldOutNLL is the mean NLL of net over held-out stories windows (the
// documents the search never reads).
func heldOutNLL(t *testing.T, f *Family, net *engine.Net) float64 {
	t.Helper()
	docs, err := corpus.Read(filepath.Join(repoData, "heldout", "stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var streams [][]int
	for _, d := range docs {
		streams = append(streams, f.Tok.Encode(d.Text, true))
	}
	w, err := corpus.Windows(streams, 128)
	if err != nil {
		t.Fatal(err)
	}
	lps, err := net.LogProbs(w)
	if err != nil {
		t.Fatal(err)
	}
	sum, n := 0.0, 0
	for _, lp := range lps {
		for _, v := range lp {
			sum -= v
			n++
		}
	}
	return sum / float64(n)
}

// On the stories family, ShortGPT's cut at 1 and 2 layers, repaired with a
// linear map fitted on the search's stories text, has a lower held-out NLL
// than unrepaired.
func TestRepairedShortGPTBeatsUnrepaired(t *testing.T) {
	f, specs := demoSession(t, FamilyOptions{}, "base")
	s := &Session{Family: f, Specs: specs, Runner: &Local{Family: f, Specs: specs}}
	calib := filepath.Join(repoData, "data", "stories.jsonl")
	for _, n := range []int{1, 2} {
		row, err := s.Prune(KindShortGPT, n)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := f.Builder.Net(row.Plan)
		if err != nil {
			t.Fatal(err)
		}
		rp := *row.Plan
		rp.Repair = &plan.Repair{Method: "linear", Calibration: calib, Samples: 64}
		fits, err := f.Builder.Repairs(&rp)
		if err != nil {
			t.Fatal(err)
		}
		repaired, err := f.Builder.Net(&rp)
		if err != nil {
			t.Fatal(err)
		}
		a, b := heldOutNLL(t, f, plain), heldOutNLL(t, f, repaired)
		var cuts []string
		for _, c := range fits {
			cuts = append(cuts, fmt.Sprintf("%d–%d after slot %d (%d tokens, %v)", c.Cut.From, c.Cut.To-1, c.Cut.Slot, c.Tokens, c.Elapsed.Round(1e6)))
		}
		t.Logf("ShortGPT removing %d (layers %v): held-out stories NLL %.4f unrepaired, %.4f repaired; cuts %s", n, row.Removed, a, b, strings.Join(cuts, ", "))
		if !(b < a) {
			t.Errorf("%d removed: repaired NLL %.4f is not below unrepaired %.4f", n, b, a)
		}
	}
}

func TestRepairBadInput(t *testing.T) {
	f, _ := demoSession(t, FamilyOptions{}, "base")
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.txt")
	if err := os.WriteFile(tiny, []byte("Once upon a time."), 0o644); err != nil {
		t.Fatal(err)
	}
	cut := func(calib string) *plan.Plan {
		p, err := plan.Parse([]byte(`{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",4]}],"repair":{"method":"linear","calibration":"` + calib + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ calib, want string }{
		{filepath.Join(dir, "missing.txt"), "repair.calibration: stat " + filepath.Join(dir, "missing.txt")},
		{tiny, "tiny.txt gives 6 tokens (1 windows), fewer than the hidden size 64"},
	} {
		if _, err := f.Builder.Net(cut(c.calib)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("calibration %s: %v, want %q", c.calib, err, c.want)
		}
	}
	_, err := plan.ParseFor([]byte(`{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",3]},{"take":["base",4]}],"repair":{"method":"linear","calibration":"x"}}`), f.Info())
	if err == nil || !strings.Contains(err.Error(), "repair: the plan removes no layer after a kept one") {
		t.Errorf("repair without a cut: %v", err)
	}
	_, err = plan.ParseFor([]byte(`{"slots":[{"take":["base",0]},{"take":["base",1],"mlp":"none"},{"take":["base",4]}],"repair":{"method":"ridge","calibration":"x","samples":0}}`), f.Info())
	for _, w := range []string{`repair.method: unknown repair method "ridge"`, "repair.samples: must be at least 1", "slots[1].mlp: is none, so the repair of the layers removed after it (2–3) has no down_proj"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

// BenchmarkRepair is the cost of fitting and folding one cut's repair (no
// cache): the teacher's forward pass to the end of the cut, the plan's to
// the kept layer, MᵀM over the calibration tokens, the Cholesky solve and
// the fold. GPTAILOR_TRACE_FAMILY=DIR runs it on a synthetic family
// (e.g. the 135M shape); the default is the stories family.
func BenchmarkRepair(b *testing.B) {
	f, err := OpenFamily(traceFamily(), FamilyOptions{CacheBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	L := f.Base().Config.NumHiddenLayers
	calib := filepath.Join(repoData, "calibration.jsonl")
	for _, run := range []int{1, 4} {
		if run >= L-1 {
			continue
		}
		var removed []int
		for i := L/2 - run/2; len(removed) < run; i++ {
			removed = append(removed, i)
		}
		p := prune.Plan(f.Dirs, L, removed, "bench")
		p.Repair = &plan.Repair{Method: "linear", Calibration: calib, Samples: 32}
		if _, err := f.Builder.Net(p); err != nil { // layers read and packed before timing
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cut=%d-layers/cold", run), func(b *testing.B) {
			for b.Loop() { // a fresh builder over the same packed layers: nothing fitted yet
				sb := stitch.New(f.Family, -1)
				sb.Loader, sb.Calibrate = f.Builder.Loader, f.Builder.Calibrate
				if fits, err := sb.Repairs(p); err != nil || len(fits) != 1 {
					b.Fatalf("%v %d fits", err, len(fits))
				}
			}
		})
		b.Run(fmt.Sprintf("cut=%d-layers/teacher-cached", run), func(b *testing.B) {
			i := 0
			for b.Loop() {
				// another ridge is another fit; the teacher's states are kept
				i++
				p.Repair.Ridge = plan.Ptr(plan.DefaultRidge * (1 + float64(i)*1e-9))
				fits, err := f.Builder.Repairs(p)
				if err != nil || len(fits) != 1 || fits[0].Elapsed == 0 {
					b.Fatalf("%v %d fits", err, len(fits))
				}
			}
		})
	}
}
