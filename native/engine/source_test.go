package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// samePacked says where two packed matrices differ: layout, size or any
// row's values.
func samePacked(a, b *kernel.Packed) error {
	if (a == nil) != (b == nil) {
		return fmt.Errorf("one is nil")
	}
	if a == nil {
		return nil
	}
	if a.N != b.N || a.K != b.K || a.Half() != b.Half() || a.Bytes() != b.Bytes() || a.PanelRows() != b.PanelRows() {
		return fmt.Errorf("%d×%d half %v %d bytes vs %d×%d half %v %d bytes", a.N, a.K, a.Half(), a.Bytes(), b.N, b.K, b.Half(), b.Bytes())
	}
	ra, rb := make([]float32, a.K), make([]float32, b.K)
	for r := 0; r < a.N; r++ {
		a.Row(r, ra)
		b.Row(r, rb)
		for c := range ra {
			if ra[c] != rb[c] {
				return fmt.Errorf("row %d column %d: %v vs %v", r, c, ra[c], rb[c])
			}
		}
	}
	return nil
}

// A BF16 checkpoint's layers and head, read in 16 bits a block of rows at
// a time (blocks of 100 rows here, so every matrix takes several, some
// ending mid-panel), are packed exactly as the float32 tensors widened
// whole are — with every kernel this CPU runs.
func TestLoadBF16EqualsWidened(t *testing.T) {
	m, err := model.Open(modelDir("base-bf16-sharded"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	old := blockValues
	blockValues = 100 * int64(m.Config.HiddenSize)
	defer func() { blockValues = old }()
	prev := kernel.Active()
	defer kernel.Select(prev)
	for _, name := range kernel.Names() {
		if ok, why := kernel.Runnable(name); !ok {
			t.Logf("%s: skipped (%s)", name, why)
			continue
		}
		if err := kernel.Select(name); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m.Config.NumHiddenLayers; i++ {
			got, err := LoadLayer(m, i)
			if err != nil {
				t.Fatal(err)
			}
			tn := Tensors{}
			for _, role := range m.Roles() {
				if tn[role], err = m.Tensors.ReadFloat32(m.LayerTensorName(role, i)); err != nil {
					t.Fatal(err)
				}
			}
			want, err := NewLayer(m.Config, tn)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				a, b *kernel.Packed
			}{{"qkv", got.QKV, want.QKV}, {"o", got.O, want.O}, {"gate_up", got.GateUp, want.GateUp}, {"down", got.Down, want.Down}} {
				if err := samePacked(c.a, c.b); err != nil {
					t.Fatalf("%s layer %d %s: %v", name, i, c.name, err)
				}
			}
			if got.Bytes() != want.Bytes() || got.Bytes() != LayerBytes(m.Config, kernel.BF16) || got.QKV.Half() != (kernel.HalfWeights() || kernel.ComputeBF16()) || fmt.Sprint(got.AttnNorm, got.MLPNorm) != fmt.Sprint(want.AttnNorm, want.MLPNorm) {
				t.Fatalf("%s layer %d: %d bytes (16-bit %v), want %d", name, i, got.Bytes(), got.QKV.Half(), want.Bytes())
			}
		}
		got, err := LoadHead(m)
		if err != nil {
			t.Fatal(err)
		}
		var ht HeadTensors
		if ht.Embed, err = m.Tensors.ReadFloat32(m.Arch.Embed); err != nil {
			t.Fatal(err)
		}
		if ht.FinalNorm, err = m.Tensors.ReadFloat32(m.Arch.FinalNorm); err != nil {
			t.Fatal(err)
		}
		want, err := NewHead(m.Config, &ht)
		if err != nil {
			t.Fatal(err)
		}
		if err := samePacked(got.Embed, want.Embed); err != nil || got.LMHead != got.Embed || got.Bytes() != want.Bytes() || got.Bytes() != HeadBytes(m.Config, kernel.BF16) {
			t.Fatalf("%s head: %v (tied %v, %d bytes, want %d)", name, err, got.LMHead == got.Embed, got.Bytes(), want.Bytes())
		}
	}
}

// LayerBytes and HeadBytes of a float32 model are what its layers and
// head take packed.
func TestLayerBytesF32(t *testing.T) {
	m, err := model.Open(modelDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := LoadLayer(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHead(m)
	if err != nil {
		t.Fatal(err)
	}
	if l.Bytes() != LayerBytes(m.Config, kernel.F32) || h.Bytes() != HeadBytes(m.Config, kernel.F32) {
		t.Fatalf("layer %d bytes (LayerBytes %d), head %d (HeadBytes %d)", l.Bytes(), LayerBytes(m.Config, kernel.F32), h.Bytes(), HeadBytes(m.Config, kernel.F32))
	}
}

// halfSource gives one 16-bit tensor in the blocks it is told to, and
// float32 norms, so a source that gives too much, too little or ragged
// rows can be tried.
type halfSource struct {
	cfg    *model.Config
	blocks map[string][][]uint16
}

func (s halfSource) Format(name string) kernel.Format {
	if s.blocks[name] != nil {
		return kernel.BF16
	}
	return kernel.F32
}

func (s halfSource) Float32(name string) ([]float32, error) {
	if s.blocks[name] != nil {
		return nil, fmt.Errorf("asked for %s as float32", name)
	}
	return make([]float32, elems(s.cfg, name)), nil
}

func (s halfSource) Half(name string, _ int, put func([]uint16) error) error {
	for _, b := range s.blocks[name] {
		if err := put(b); err != nil {
			return err
		}
	}
	return nil
}

// A 16-bit source that gives the wrong number of values, or not whole
// rows, is refused naming the tensor — never a panic in the packer.
func TestBuildLayerRefusesBadSource(t *testing.T) {
	cfg := &model.Config{HiddenSize: 8, IntermediateSize: 16, NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 4, NumHiddenLayers: 1, VocabSize: 10}
	rows := func(n int) []uint16 { return make([]uint16, n*8) }
	ones := func(v []uint16) []uint16 {
		for i := range v {
			v[i] = 0x3f80
		}
		return v
	}
	for _, c := range []struct {
		blocks [][]uint16
		want   string
	}{
		{[][]uint16{ones(rows(10))}, "tensor up has 80 values, want 128"},
		{[][]uint16{ones(rows(10)), rows(7)}, "tensor up gives more than 128 values or not whole rows of 8"},
		{[][]uint16{ones(rows(10)), make([]uint16, 5)}, "tensor up gives more than 128 values or not whole rows of 8"},
	} {
		src := halfSource{cfg, map[string][][]uint16{model.Gate: {ones(rows(16))}, model.Up: c.blocks, model.Down: {ones(make([]uint16, 128))}}}
		_, err := BuildLayer(cfg, src, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	src := halfSource{cfg, map[string][][]uint16{model.Gate: {ones(rows(16))}, model.Up: {ones(rows(9)), ones(rows(7))}, model.Down: {make([]uint16, 128)}}}
	l, err := BuildLayer(cfg, src, false)
	if err != nil || l.HasMLP() {
		t.Errorf("a zero BF16 down_proj: %v, MLP kept %v", err, l != nil && l.HasMLP())
	}
	if _, err := NewLayer(cfg, Tensors{model.AttnNorm: make([]float32, 8), model.Q: make([]float32, 3)}); err == nil || !strings.Contains(err.Error(), "tensor q has 3 values, want 64") {
		t.Errorf("short float32 q_proj: %v", err)
	}
}
