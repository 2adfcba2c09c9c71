package build

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// convert writes a copy of a stories member with every tensor in dt.
func convert(t *testing.T, alias string, dt safetensors.DType) string {
	t.Helper()
	src := filepath.Join(repoData, "stories260K-"+alias)
	m, err := model.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var ts []safetensors.Tensor
	for _, name := range m.Tensors.Names() {
		v, err := m.Tensors.ReadFloat32(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := safetensors.FromFloat32(dt, v)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := m.Tensors.Info(name)
		ts = append(ts, safetensors.Tensor{Name: name, DType: dt, Shape: info.Shape, Data: b})
	}
	dir := filepath.Join(t.TempDir(), alias)
	os.MkdirAll(dir, 0o755)
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
	cfg, _ := os.ReadFile(filepath.Join(src, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	return dir
}

// An F16 family stays 16-bit in the nets (where the kernel reads such
// panels), merged layers included — rounded to F16 as build writes them,
// so the built model scores what the plan's net scores.
func TestF16FamilyMergesAsBuilt(t *testing.T) {
	f := family(t, map[string]string{"base": convert(t, "base", safetensors.F16), "code": convert(t, "code", safetensors.F16)})
	b := stitch.New(f, -1)
	p, err := plan.Parse([]byte(`{"slots":[{"take":["base",0]},{"merge":{"method":"task_arithmetic","layer":1,"models":["code"],"lambda":0.3}},{"take":["code",2]},{"take":["base",4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	net, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	if h := kernel.HalfWeights(); net.Layers[0].QKV.Half() != h || net.Layers[1].QKV.Half() != h || net.Layers[1].Down.Half() != h {
		t.Errorf("kernel %s: taken layer 16-bit %v, merged %v, want %v", kernel.Active(), net.Layers[0].QKV.Half(), net.Layers[1].QKV.Half(), h)
	}
	out := filepath.Join(t.TempDir(), "built")
	if _, err := Build(b, p, Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if dt := m.Tensors.DTypes(); len(dt) != 1 || dt[safetensors.F16] == 0 {
		t.Errorf("built dtypes %v, want F16 only", dt)
	}
	built, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameScores(t, built, net)
}

// sameScores checks that the built model scores a stories sentence as the
// plan's net does.
func sameScores(t *testing.T, built, net *engine.Net) {
	t.Helper()
	seq := []int{1, 403, 407, 261, 378, 285, 40, 269, 29, 371, 43, 262, 300}
	want, err := net.LogProbs([][]int{seq})
	if err != nil {
		t.Fatal(err)
	}
	got, err := built.LogProbs([][]int{seq})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want[0] {
		if math.Abs(got[0][i]-want[0][i]) > 1e-5 {
			t.Fatalf("token %d: built %.6f, plan %.6f", i, got[0][i], want[0][i])
		}
	}
}
