package stitch

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/shared/plan"
)

// bf16Stories writes the stories family with every tensor rounded to BF16
// (config and tokenizer copied) and opens it.
func bf16Stories(t *testing.T) *model.Family {
	t.Helper()
	var ms []model.Member
	for _, n := range []string{"base", "code", "docs", "math"} {
		src := filepath.Join(repoData, "stories260K-"+n)
		dst := filepath.Join(t.TempDir(), n)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"config.json", "tokenizer.json"} {
			raw, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, f), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ck, err := safetensors.OpenDir(src)
		if err != nil {
			t.Fatal(err)
		}
		var ts []safetensors.Tensor
		for _, name := range ck.Names() {
			info, _ := ck.Info(name)
			v, err := ck.ReadFloat32(name)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := safetensors.FromFloat32(safetensors.BF16, v)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.BF16, Shape: info.Shape, Data: raw})
		}
		ck.Close()
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, ts, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "model.safetensors"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, model.Member{Alias: n, Dir: dst})
	}
	f, err := model.OpenFamily(ms)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// In a BF16 family, merged layers and merged heads go into their 16-bit
// panels a chunk at a time (chunks of 1,000 entries here: every tensor
// but the norms takes several) and score exactly as the same merges made
// whole in float32, rounded to BF16 and packed — the way nets were built
// before; a plan mixing a merged embedding with a member's head reads that
// member's head in 16 bits.
func TestBF16MergesStreamedExact(t *testing.T) {
	f := bf16Stories(t)
	defer f.Close()
	p, err := plan.Parse([]byte(`{"slots":[
		{"merge":{"method":"task_arithmetic","models":["code","math"],"layer":0,"lambda":0.7}},
		{"take":["docs",1]},
		{"merge":{"method":"ties","models":["code","docs","math"],"layer":3,"lambda":0.9,"density":0.5}}],
		"embed":{"merge":{"method":"linear","models":["code","docs"],"weights":[1,2]}},"head":{"model":"math"}}`))
	if err != nil {
		t.Fatal(err)
	}
	old := chunk
	chunk = 1000
	b := New(f, -1)
	net, err := b.Net(p)
	chunk = old
	if err != nil {
		t.Fatal(err)
	}
	if b.format.String() != "BF16" || net.Layers[0].QKV.Half() != (kernel.HalfWeights() || kernel.ComputeBF16()) {
		t.Fatalf("format %v, merged layer 16-bit %v", b.format, net.Layers[0].QKV.Half())
	}
	// The reference: whole float32 merges, rounded, packed from maps.
	cfg := f.Base().Config
	var layers []*engine.Layer
	for i, s := range p.Slots {
		if s.Take != nil {
			layers = append(layers, net.Layers[i])
			continue
		}
		tn := engine.Tensors{}
		for _, role := range f.Base().Roles() {
			v, err := b.LayerTensor(s.Merge, role)
			if err != nil {
				t.Fatal(err)
			}
			bf16.Round(v)
			tn[role] = v
		}
		l, err := engine.NewLayer(cfg, tn)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	var ht engine.HeadTensors
	if ht.Embed, err = b.OuterTensor(p.Embed, f.Base().Arch.Embed); err != nil {
		t.Fatal(err)
	}
	bf16.Round(ht.Embed)
	if ht.FinalNorm, err = b.OuterTensor(p.Head, f.Base().Arch.FinalNorm); err != nil {
		t.Fatal(err)
	}
	if !cfg.TieWordEmbeddings {
		if ht.LMHead, err = b.OuterTensor(p.Head, f.Base().Arch.LMHead); err != nil {
			t.Fatal(err)
		}
	}
	head, err := engine.NewHead(cfg, &ht)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.NewNet(cfg, head, layers)
	windows := [][]int{{1, 403, 407, 261, 378, 432, 383, 286}, {1, 291, 265, 274, 440, 300}}
	got, err := net.LogProbs(windows)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := want.LogProbs(windows)
	if err != nil {
		t.Fatal(err)
	}
	for w := range ref {
		for i := range ref[w] {
			if got[w][i] != ref[w][i] {
				t.Fatalf("window %d position %d: streamed %v, whole %v", w, i, got[w][i], ref[w][i])
			}
		}
	}
}
