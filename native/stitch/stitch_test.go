package stitch

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/shared/plan"
)

var (
	repoData = filepath.Join("..", "..", "testdata")
)

func openStories(t testing.TB) *model.Family {
	t.Helper()
	var ms []model.Member
	for _, n := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: n, Dir: filepath.Join(repoData, "stories260K-"+n)})
	}
	f, err := model.OpenFamily(ms)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type goldenPlan struct {
	Name  string               `json:"name"`
	Slots json.RawMessage      `json:"slots"`
	NLL   map[string][]float64 `json:"nll"`
}

// GoldenPlans reads the eight reference plans as our plans.
func goldenPlans(t testing.TB) ([]goldenPlan, []*plan.Plan, map[string][][]int) {
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Plans []goldenPlan `json:"plans"`
	}
	json.Unmarshal(raw, &g)
	var ps []*plan.Plan
	for _, gp := range g.Plans {
		p, err := plan.Parse([]byte(`{"version":1,"name":"` + gp.Name + `","slots":` + string(gp.Slots) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	raw, _ = os.ReadFile(filepath.Join(repoData, "golden", "nll.json"))
	var n struct {
		Windows map[string][][]int `json:"windows"`
	}
	json.Unmarshal(raw, &n)
	return g.Plans, ps, n.Windows
}

// Every golden plan — drops, cross-model takes, task arithmetic, linear
// soup, TIES, SLERP, a repeated layer — against the PyTorch reference.
func TestGoldenPlans(t *testing.T) {
	gps, ps, windows := goldenPlans(t)
	f := openStories(t)
	defer f.Close()
	b := New(f, DefaultCacheBytes)
	for i, p := range ps {
		net, err := b.Net(p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for domain, want := range gps[i].NLL {
			lps, err := net.LogProbs(windows[domain])
			if err != nil {
				t.Fatal(err)
			}
			for w, lp := range lps {
				var s float64
				for _, v := range lp {
					s -= v
				}
				if got := s / float64(len(lp)); math.Abs(got-want[w]) > 2e-4 {
					t.Errorf("%s/%s window %d: NLL %.6f, reference %.6f", p.Name, domain, w, got, want[w])
				}
			}
		}
	}
}

func TestCacheAndSharing(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, DefaultCacheBytes)
	p := &plan.Plan{Slots: []plan.Slot{
		{Take: &plan.Take{Model: "code", Layer: 1}},
		{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 2, Models: []string{"code", "math"}, Params: plan.Params{Lambda: plan.Ptr(0.5)}}},
		{Take: &plan.Take{Model: "code", Layer: 1}},
	}}
	n1, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	if n1.Layers[0] != n1.Layers[2] {
		t.Error("a repeated take is not the same shared layer")
	}
	n2, _ := b.Net(p)
	if n2.Layers[1] != n1.Layers[1] {
		t.Error("the merged layer was computed twice")
	}
	if hits, misses, _ := b.CacheStats(); hits != 1 || misses != 1 {
		t.Errorf("cache hits %d misses %d", hits, misses)
	}
	// A cache bound below two layers evicts the older merge.
	small := New(f, n1.Layers[1].Bytes()+1)
	q := func(l float64) *plan.Plan {
		return &plan.Plan{Slots: []plan.Slot{{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 2, Models: []string{"code"}, Params: plan.Params{Lambda: plan.Ptr(l)}}}}}
	}
	small.Net(q(0.1))
	settle(t, small)
	small.Net(q(0.2))
	settle(t, small)
	small.Net(q(0.1))
	settle(t, small)
	if hits, misses, bytes := small.CacheStats(); hits != 0 || misses != 3 || bytes > n1.Layers[1].Bytes()+1 {
		t.Errorf("bounded cache: hits %d misses %d bytes %d", hits, misses, bytes)
	}
}

func TestPlanErrorsReachTheCaller(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, DefaultCacheBytes)
	_, err := b.Net(&plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "code", Layer: 9}}}})
	if err == nil || err.Error() != "invalid plan: slots[0].take.layer: layer 9 out of range [0, 5)" {
		t.Errorf("got %v", err)
	}
}

// A cross-layer merge (LaCo's collapse): task arithmetic on base layer 1
// with base layers 2 and 3 at weights 1 and −0.5 gives
// θ1 + (θ2 − θ1) − 0.5(θ3 − θ1) for the matrices, and an override with
// λ 0 keeps layer 1's norms; the recipe hash sees the source layers.
func TestCrossLayerMerge(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, 1<<20)
	p, err := plan.Parse([]byte(`{"version":1,"slots":[{"take":["base",0]},
		{"merge":{"method":"task_arithmetic","layer":1,"models":["base","base"],"layers":[2,3],"weights":[1,-0.5],"lambda":1,
		"overrides":[{"filter":"norm","lambda":0}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Validate(p, Info(f)); err != nil {
		t.Fatal(err)
	}
	base := f.Base()
	for _, role := range base.Roles() {
		got, err := b.LayerTensor(p.Slots[1].Merge, role)
		if err != nil {
			t.Fatal(err)
		}
		read := func(l int) []float32 {
			v, err := base.Tensors.ReadFloat32(base.LayerTensorName(role, l))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		t1, t2, t3 := read(1), read(2), read(3)
		norm := strings.Contains(base.LayerTensorName(role, 1), "norm")
		for i := range got {
			want := float64(t1[i]) + (float64(t2[i]) - float64(t1[i])) - 0.5*(float64(t3[i])-float64(t1[i]))
			if norm {
				want = float64(t1[i])
			}
			if math.Abs(float64(got[i])-want) > 1e-6 {
				t.Fatalf("%s[%d] = %g, want %g", role, i, got[i], want)
			}
		}
	}
	q := *p.Slots[1].Merge
	q.Layers = []int{2, 4}
	p2 := &plan.Plan{Version: 1, Slots: []plan.Slot{p.Slots[0], {Merge: &q}}}
	if p.SlotHash(1) == p2.SlotHash(1) {
		t.Error("the recipe hash ignores the source layers")
	}
	if _, err := b.Net(p); err != nil {
		t.Fatal(err)
	}
}

// With a cache smaller than the model, source layers are evicted and read
// again, and the nets score exactly as with everything kept.
func TestBoundedCacheRereadsSourceLayers(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	all := New(f, -1)
	p := &plan.Plan{Slots: []plan.Slot{
		{Take: &plan.Take{Model: "base", Layer: 0}}, {Take: &plan.Take{Model: "code", Layer: 1}},
		{Take: &plan.Take{Model: "base", Layer: 2}}, {Take: &plan.Take{Model: "math", Layer: 3}},
	}}
	ref, err := all.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	one := ref.Layers[0].Bytes()
	small := New(f, 2*one+1) // two layers at a time
	win := [][]int{{1, 5, 9, 200, 31, 77, 12, 3}}
	want, _ := ref.LogProbs(win)
	for round := 0; round < 3; round++ {
		n, err := small.Net(p)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := n.LogProbs(win)
		for i := range want[0] {
			if got[0][i] != want[0][i] {
				t.Fatalf("round %d: log-prob %d = %v, want %v", round, i, got[0][i], want[0][i])
			}
		}
		n = nil
		settle(t, small) // the net is gone: its layers may be evicted now
	}
	st := small.Cache().Stats("source")
	_, peak := small.Cache().Bytes()
	// While a net runs its four layers and its head are pinned: the cache
	// holds them all, over its bound; once the net is gone the bound holds
	// again.
	if head := ref.Head.Bytes(); peak > 4*one+head || peak <= 2*one+1 {
		t.Errorf("peak %d with a net of 4 layers of %d bytes and a head of %d pinned", peak, one, head)
	}
	settle(t, small)
	small.Net(q0(p)) // any Put evicts what is no longer pinned
	settle(t, small)
	if now, _ := small.Cache().Bytes(); st.Evictions == 0 || st.Misses < 8 || now > 2*one+1 {
		t.Errorf("stats %+v, bytes now %d, bound %d", st, now, 2*one+1)
	}
}

// settle collects garbage until no dead net pins a layer of b's cache.
func settle(t *testing.T, b *Builder) {
	t.Helper()
	for i := 0; i < 200 && b.Cache().PinnedLayers() > 0; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := b.Cache().PinnedLayers(); n > 0 {
		t.Fatalf("%d layers still pinned after every net was dropped", n)
	}
}

// q0 is p's first slot alone.
func q0(p *plan.Plan) *plan.Plan { return &plan.Plan{Slots: p.Slots[:1]} }

// A live net's layers are never evicted, however small the cache.
func TestPinnedLayersStay(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, 1) // smaller than any layer
	p := &plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}}, {Take: &plan.Take{Model: "code", Layer: 1}}}}
	n1, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := b.Net(p) // n1 still alive: its layers are shared, not read again
	if n1.Layers[0] != n2.Layers[0] || n1.Layers[1] != n2.Layers[1] {
		t.Error("a pinned layer was evicted and read again")
	}
	runtime.KeepAlive(n1)
	runtime.KeepAlive(n2)
}

// Element-wise merges of large tensors go a slice at a time and give
// exactly the whole-tensor result (the embedding here: 32,768 entries).
func TestChunkedMergeIsExact(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, -1)
	name := f.Base().Arch.Embed
	for _, m := range []*plan.Merge{
		{Method: "task_arithmetic", Models: []string{"code", "math"}, Params: plan.Params{Lambda: plan.Ptr(0.7)}},
		{Method: "linear", Models: []string{"code", "docs", "math"}, Params: plan.Params{Weights: []float64{1, 2, 0.5}}},
		{Method: "passthrough", Models: []string{"docs"}, Params: plan.Params{Scale: plan.Ptr(0.5)}},
	} {
		whole, err := b.MergeTensor(m, name)
		if err != nil {
			t.Fatal(err)
		}
		old := chunk
		chunk = 1000 // 33 slices, the last a short one
		parts, err := b.MergeTensor(m, name)
		chunk = old
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != len(whole) {
			t.Fatalf("%s: %d entries, want %d", m.Method, len(parts), len(whole))
		}
		for i := range whole {
			if parts[i] != whole[i] {
				t.Fatalf("%s: entry %d = %v in slices, %v whole", m.Method, i, parts[i], whole[i])
			}
		}
	}
}

// A plan whose embeddings and head are one member's uses that member's
// head, the one its dense net has — held once, in the bounded cache.
func TestMemberHeadsShared(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	b := New(f, -1)
	code, _ := f.Model("code")
	dense, err := b.Loader.Net(code, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := plan.Parse([]byte(`{"slots":[{"take":["code",0]},{"take":["base",2]}],"embed":"code","head":{"model":"code"}}`))
	net, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	if net.Head != dense.Head {
		t.Error("the plan built its own copy of code's head")
	}
	q, _ := plan.Parse([]byte(`{"slots":[{"take":["code",0]}],"embed":"code","head":"base"}`))
	mixed, err := b.Net(q)
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Head == dense.Head {
		t.Error("code's embeddings with the base's head share code's head")
	}
	if st := b.Cache().Stats("head"); st.Misses < 2 || st.Hits < 1 {
		t.Errorf("heads not in the cache: %+v", st)
	}
}
