package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The golden files are written by testdata/golden/make_golden.py with
// llama.cpp's gguf-py quantizers.
func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func floats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func TestEncodeMatchesGGUFPy(t *testing.T) {
	in := floats(golden(t, "input.f32"))
	for _, c := range []struct {
		typ  Type
		file string
	}{{F16, "f16.bin"}, {BF16, "bf16.bin"}, {Q8_0, "q8_0.bin"}, {Q4_0, "q4_0.bin"}} {
		want := golden(t, c.file)
		got, err := Encode(c.typ, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d bytes, gguf-py wrote %d", c.typ, len(got), len(want))
		}
		size := traits[c.typ].size
		bad := 0
		for k := 0; k < len(got)/size; k++ {
			if !bytes.Equal(got[k*size:(k+1)*size], want[k*size:(k+1)*size]) {
				if bad < 3 {
					t.Errorf("%s: unit %d: % x, gguf-py % x", c.typ, k, got[k*size:(k+1)*size], want[k*size:(k+1)*size])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d units differ from gguf-py", c.typ, bad, len(got)/size)
		}
	}
}

// Q4_0 differs from a build of llama.cpp that does not fuse x*id + 8.5
// only by one step in a few values: count the blocks and bound the step.
func TestQ4NoFMABound(t *testing.T) {
	in := floats(golden(t, "input.f32"))
	nofma := golden(t, "q4_0_nofma.bin")
	got, _ := Encode(Q4_0, in)
	size := traits[Q4_0].size
	blocks := 0
	for k := 0; k < len(got)/size; k++ {
		a, b := got[k*size:(k+1)*size], nofma[k*size:(k+1)*size]
		if bytes.Equal(a, b) {
			continue
		}
		blocks++
		if !bytes.Equal(a[:2], b[:2]) {
			t.Errorf("block %d: the scales differ", k)
		}
		for j := 2; j < size; j++ {
			for _, sh := range []uint{0, 4} {
				x, y := int(a[j]>>sh&15), int(b[j]>>sh&15)
				if x-y > 1 || y-x > 1 {
					t.Errorf("block %d byte %d: nibbles %d and %d differ by more than one step", k, j, x, y)
				}
			}
		}
	}
	t.Logf("Q4_0: %d of %d blocks differ from the non-FMA reference, each value by at most one step", blocks, len(got)/size)
	// The fixture holds one block chosen because the two forms differ on it
	// (1 in 200,000 random blocks); the rest agree.
	if blocks != 1 {
		t.Errorf("%d blocks differ from the non-FMA reference, the fixture has exactly one such block", blocks)
	}
}

func TestDecodeMatchesGGUFPy(t *testing.T) {
	in := floats(golden(t, "input.f32"))
	for _, c := range []struct {
		typ       Type
		bin, want string
	}{{Q8_0, "q8_0.bin", "dq8_0.f32"}, {Q4_0, "q4_0.bin", "dq4_0.f32"}} {
		got, err := Decode(c.typ, golden(t, c.bin), len(in))
		if err != nil {
			t.Fatal(err)
		}
		want := floats(golden(t, c.want))
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(isNaN(got[i]) && isNaN(want[i])) {
				t.Fatalf("%s value %d: %g, gguf-py %g", c.typ, i, got[i], want[i])
			}
		}
		rt := append([]float32(nil), in...)
		if err := RoundTrip(c.typ, rt); err != nil {
			t.Fatal(err)
		}
		for i := range rt {
			if math.Float32bits(rt[i]) != math.Float32bits(want[i]) && !(isNaN(rt[i]) && isNaN(want[i])) {
				t.Fatalf("%s round trip value %d: %g, gguf-py %g", c.typ, i, rt[i], want[i])
			}
		}
	}
}

func isNaN(x float32) bool { return x != x }

func TestParseType(t *testing.T) {
	for _, s := range []string{"f32", "F16", "bf16", "q8_0", "Q4_0"} {
		if _, err := ParseType(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseType("q4_k"); err == nil {
		t.Error("q4_k accepted")
	}
	if _, err := Encode(Q8_0, make([]float32, 33)); err == nil {
		t.Error("33 values encoded as Q8_0")
	}
}
