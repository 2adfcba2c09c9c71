package session

import (
	"context"
	"github.com/gptailor/gptailor/native/engine"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/internal/demo"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

var repoData = filepath.Join("..", "..", "testdata")

// Task weights reach the objective: with weights 2,1,1,1 it is
// (2r₀+r₁+r₂+r₃)/5, and the costs' plain mean is 1 − that.
func TestWeightsShapeTheObjective(t *testing.T) {
	s := &Session{Specs: []task.Spec{{Name: "a", Weight: 2}, {Name: "b"}, {Name: "c"}, {Name: "d", Weight: 1}}}
	ret := []float64{0.5, 1.0, 1.5, 0.8}
	want := (2*0.5 + 1.0 + 1.5 + 0.8) / 5
	if got := s.Score(ret, nil, nil); math.Abs(got-want) > 1e-15 {
		t.Errorf("weighted objective %v, want %v", got, want)
	}
	if got := search.Mean(s.Costs(&Evaluation{Retention: ret, Objective: want})); math.Abs(got-(1-want)) > 1e-15 {
		t.Errorf("mean cost %v, want %v", got, 1-want)
	}
	unweighted := &Session{Specs: []task.Spec{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}}
	if got, want := unweighted.Score(ret, nil, nil), (0.5+1.0+1.5+0.8)/4; math.Abs(got-want) > 1e-15 {
		t.Errorf("unweighted %v, want %v", got, want)
	}
	// Doubling a task's weight moves the objective toward that task's
	// retention by the expected amount: (2·0.5 − 0.5)/5 − 0.5·... exactly.
	if d := s.Score(ret, nil, nil) - unweighted.Score(ret, nil, nil); math.Abs(d-(want-(0.5+1.0+1.5+0.8)/4)) > 1e-15 || d >= 0 {
		t.Errorf("weight 2 on the weakest task moved the objective by %v", d)
	}
}

// One plan, one job id: model directories and display names do not count,
// the recipe and the budget do.
func TestJobIDIsTheRecipe(t *testing.T) {
	p := &plan.Plan{Version: 1, Name: "x", Models: map[string]string{"base": "/a"}, Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}}}}
	q := *p
	q.Name, q.Models = "y", map[string]string{"base": "/elsewhere/b"}
	if JobID(Target{Plan: p}, 3, 0) != JobID(Target{Plan: &q}, 3, 0) {
		t.Error("the same recipe on two machines has two ids")
	}
	if JobID(Target{Plan: p}, 3, 0) == JobID(Target{Plan: p}, 9, 0) {
		t.Error("two budgets share an id")
	}
	r := *p
	r.Slots = []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 1}}}
	if JobID(Target{Plan: p}, 3, 0) == JobID(Target{Plan: &r}, 3, 0) {
		t.Error("two recipes share an id")
	}
	if p.Name != "x" || p.Models["base"] != "/a" {
		t.Error("JobID changed the plan")
	}
}

// A family opened through a symlink or a relative path has the same
// canonical directories and fingerprint; another family (a member fewer,
// or another alias) has another fingerprint.
func TestCanonicalPathsAndFingerprint(t *testing.T) {
	a, err := OpenFamily(demo.Members("base", "code", "docs", "math"), FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	link := filepath.Join(t.TempDir(), "linked-base")
	abs, _ := filepath.Abs(filepath.Join(repoData, "stories260K-base"))
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	ms := demo.Members("base", "code", "docs", "math")
	ms[0].Dir = link
	b, err := OpenFamily(ms, FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Dirs["base"] != b.Dirs["base"] || !filepath.IsAbs(a.Dirs["code"]) {
		t.Errorf("canonical dirs %q and %q", a.Dirs["base"], b.Dirs["base"])
	}
	if a.Fingerprint != b.Fingerprint {
		t.Error("one family, two fingerprints")
	}
	for _, other := range [][]model.Member{demo.Members("base", "code", "docs"), {{Alias: "base", Dir: ms[1].Dir}, ms[1], ms[2], ms[3]}} {
		c, err := OpenFamily(other, FamilyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Fingerprint == a.Fingerprint {
			t.Errorf("family %v has the demo family's fingerprint", other)
		}
		c.Close()
	}
	if _, err := OpenFamily([]model.Member{{Alias: "base", Dir: "/nonexistent/model"}}, FamilyOptions{}); err == nil {
		t.Error("a missing model directory was accepted")
	}
}

// The reference is the dense base, evaluated once per budget; the base's
// retention against itself is exactly 1 on every task.
func TestReferenceIsTheDenseBase(t *testing.T) {
	f, tasks := demoSession(t, FamilyOptions{}, "base", "code")
	s := New(f, tasks)
	ev, err := s.Evaluate(context.Background(), Target{Model: "base"}, 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range ev.Retention {
		if r != 1 {
			t.Errorf("task %s: the base retains %v of itself", s.Tasks()[i], r)
		}
	}
	r1, _ := s.ReferenceResults(context.Background(), 2)
	r2, _ := s.ReferenceResults(context.Background(), 2)
	if &r1[0] != &r2[0] {
		t.Error("the reference was evaluated twice at one budget")
	}
}

// Layer diagnostics: block influence and angular distance per layer of
// every member, in [0, 2] and [0, 1], computed once.
func TestDiagnostics(t *testing.T) {
	f, tasks := demoSession(t, FamilyOptions{}, "base", "code")
	s := New(f, tasks)
	d, err := s.Diagnostics()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Strips) != 2 {
		t.Fatalf("%d strips", len(d.Strips))
	}
	for _, st := range d.Strips {
		for _, m := range []string{"base", "code"} {
			vs := st.Layers[m]
			if len(vs) != 5 {
				t.Fatalf("%s %s: %d layers", st.Name, m, len(vs))
			}
			for l, v := range vs {
				if !(v >= 0 && v <= 2) {
					t.Errorf("%s %s layer %d: %v", st.Name, m, l, v)
				}
			}
		}
	}
	if d2, _ := s.Diagnostics(); d2 != d {
		t.Error("diagnostics computed twice")
	}
}

// demoSession opens the demo family members given, with the demo tasks.
func demoSession(t *testing.T, o FamilyOptions, aliases ...string) (*Family, []task.Spec) {
	t.Helper()
	f, err := OpenFamily(demo.Members(aliases...), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	list, err := task.ReadList(filepath.Join(repoData, "demo-tasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return f, list.Tasks
}

// The heap a search works in is its two caches, scoring's buffers and the
// slack; an unbounded cache sets no limit.
func TestHeapLimit(t *testing.T) {
	f, err := OpenFamily(demo.Members("base", "code"), FamilyOptions{CacheBytes: 100 << 20, PrefixBytes: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	score := engine.ScoreMemory(f.Base().Config, 2048)
	if got, want := f.HeapLimit(2048), int64(110<<20+512<<20)+score; got != want || score <= 0 {
		t.Errorf("HeapLimit = %d, want %d (scoring %d)", got, want, score)
	}
	if f.HeapLimit(4096) <= f.HeapLimit(2048) {
		t.Error("longer windows need no more room")
	}
	g, err := OpenFamily(demo.Members("base", "code"), FamilyOptions{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.HeapLimit(2048) != 0 {
		t.Errorf("unbounded cache: limit %d", g.HeapLimit(2048))
	}
}
