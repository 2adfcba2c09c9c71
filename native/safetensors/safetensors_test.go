package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func header(json string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(json)))
	return append(b, json...)
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripAllDtypes(t *testing.T) {
	vals := []float32{0, 1, -2, 0.5, 3.140625, -65504, 1e-3}
	dir := t.TempDir()
	var tensors []Tensor
	for _, dt := range []DType{F32, F16, BF16} {
		b, err := FromFloat32(dt, vals)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, Tensor{Name: "t." + string(dt), DType: dt, Shape: []int{7}, Data: b})
	}
	var buf bytes.Buffer
	if err := Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(writeFile(t, dir, "model.safetensors", buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Header.Metadata["format"] != "pt" {
		t.Errorf("metadata lost: %v", f.Header.Metadata)
	}
	for _, dt := range []DType{F32, F16, BF16} {
		got, err := f.ReadFloat32("t." + string(dt))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			tol := 0.0
			switch dt {
			case F16:
				tol = math.Abs(float64(v)) * math.Pow(2, -11)
			case BF16:
				tol = math.Abs(float64(v)) * math.Pow(2, -8)
			}
			if math.Abs(float64(got[i]-v)) > tol {
				t.Errorf("%s[%d] = %g, want %g", dt, i, got[i], v)
			}
		}
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "shorter than the 8-byte header length"},
		{"past-end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "header length 1000 runs past the end"},
		{"huge-header", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds the"},
		{"not-json", header("{nope"), "header is not a JSON object"},
		{"truncated-data", header(good), "tensor [a]: data_offsets [0, 8] out of range (data section is 0 bytes)"},
		{"unknown-dtype", append(header(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`), make([]byte, 8)...), `tensor [a]: unknown dtype "Q4"`},
		{"shape-bytes", append(header(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`), make([]byte, 8)...), "tensor [a]: shape [3] of F32 needs 12 bytes but data_offsets span 8"},
		{"overlap", append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`), make([]byte, 12)...), "tensors [a] and [b] overlap"},
		{"reversed", append(header(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`), make([]byte, 8)...), "tensor [a]: data_offsets [8, 0] out of range"},
		{"negative-shape", append(header(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`), make([]byte, 8)...), "tensor [a]: shape[0] = -2 is invalid"},
		{"missing-field", append(header(`{"a":{"dtype":"F32","shape":[2]}}`), make([]byte, 8)...), "tensor [a]: needs dtype, shape and data_offsets"},
		{"unknown-field", append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`), make([]byte, 8)...), `tensor [a]: json: unknown field "x"`},
		{"bad-metadata", header(`{"__metadata__":{"a":1}}`), "__metadata__ must map strings to strings"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, c.name+".safetensors", c.file)
		_, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
	// A dtype we recognise but cannot widen is refused at read time, by name.
	p := writeFile(t, dir, "i8.safetensors", append(header(`{"q":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`), 1, 2))
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadFloat32("q"); err == nil || !strings.Contains(err.Error(), "tensor [q]: dtype I8 cannot be read as float32") {
		t.Errorf("I8 read: %v", err)
	}
	if _, err := f.ReadFloat32("nope"); err == nil || !strings.Contains(err.Error(), "no tensor [nope]") {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestShardedIndexErrors(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	b, _ := FromFloat32(F32, []float32{1, 2})
	Write(&buf, []Tensor{{Name: "a", DType: F32, Shape: []int{2}, Data: b}}, nil)
	writeFile(t, dir, "model-1.safetensors", buf.Bytes())
	writeFile(t, dir, IndexName, []byte(`{"weight_map":{"a":"model-1.safetensors","b":"model-1.safetensors"}}`))
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "weight_map puts tensor [b] in model-1.safetensors, which does not hold it") {
		t.Errorf("got %v", err)
	}
	writeFile(t, dir, IndexName, []byte(`{"weight_map":{"a":"../x.safetensors"}}`))
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "must name a file in the same directory") {
		t.Errorf("got %v", err)
	}
	writeFile(t, dir, IndexName, []byte(`{"weight_map":{"a":"model-1.safetensors"}}`))
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.ReadFloat32("a"); err != nil || v[1] != 2 {
		t.Errorf("read %v %v", v, err)
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty dir: %v", err)
	}
}

// The real BF16 sharded checkpoint in testdata/.
func TestRealShardedBF16(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "stories260K-base-bf16-sharded")
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := len(c.Names()); n != 47 || c.DTypes()[BF16] != 47 {
		t.Errorf("%d tensors, dtypes %v", n, c.DTypes())
	}
	v, err := c.ReadFloat32("model.norm.weight")
	if err != nil || len(v) != 64 {
		t.Fatalf("%v %d", err, len(v))
	}
	for _, x := range v { // widened BF16: low 16 bits are zero
		if math.Float32bits(x)&0xffff != 0 {
			t.Fatalf("%g is not a widened bf16", x)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), make([]byte, 8)...))
	f.Add(append(header(`{"__metadata__":{"k":"v"},"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[],"data_offsets":[4,6]}}`), make([]byte, 6)...))
	f.Add(header(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBytes(b)
		if err != nil {
			return
		}
		for name, ti := range h.Tensors {
			if ti.Begin < 0 || ti.End < ti.Begin || h.DataStart+ti.End > int64(len(b)) {
				t.Fatalf("accepted tensor [%s] outside the file: %+v", name, ti)
			}
			if ti.NumElements()*int64(ti.DType.Size()) != ti.End-ti.Begin {
				t.Fatalf("accepted tensor [%s] whose shape does not match its bytes", name)
			}
			if raw := b[h.DataStart+ti.Begin : h.DataStart+ti.End]; ti.DType == F32 || ti.DType == BF16 || ti.DType == F16 {
				if _, err := ToFloat32(ti.DType, raw); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// NaN and ±Inf weights, in every float dtype, are refused as they are read
// (widened or raw), naming the file, the tensor and the element.
func TestNonFiniteWeightsRefused(t *testing.T) {
	dir := t.TempDir()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := map[string][]float32{"nan": {0, 1, nan, 2}, "inf": {0, 1, 2, inf}, "neginf": {-inf, 0, 0, 0}}
	var tensors []Tensor
	for name, vals := range cases {
		for _, dt := range []DType{F32, F16, BF16} {
			b, err := FromFloat32(dt, vals)
			if err != nil {
				t.Fatal(err)
			}
			tensors = append(tensors, Tensor{Name: name + "." + string(dt), DType: dt, Shape: []int{4}, Data: b})
		}
	}
	c := openTensors(t, dir, tensors)
	want := map[string]string{"nan": "element 2 is NaN", "inf": "element 3 is +Inf", "neginf": "element 0 is -Inf"}
	for name := range cases {
		for _, dt := range []DType{F32, F16, BF16} {
			tn := name + "." + string(dt)
			_, err := c.ReadFloat32(tn)
			if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "model.safetensors] tensor ["+tn+"]: non-finite weight: "+want[name]) {
				t.Errorf("ReadFloat32 %s: %v", tn, err)
			}
			if _, _, err := c.ReadRaw(tn); !errors.Is(err, ErrNonFinite) {
				t.Errorf("ReadRaw %s: %v", tn, err)
			}
			if dt == F32 {
				continue
			}
			_, err = c.ReadHalfRange(tn, 0, 4)
			if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "model.safetensors] tensor ["+tn+"]: non-finite weight: "+want[name]) {
				t.Errorf("ReadHalfRange %s: %v", tn, err)
			}
		}
	}
}

// openTensors writes tensors as dir/model.safetensors and opens it (closed
// when the test ends).
func openTensors(t *testing.T, dir string, tensors []Tensor) *Checkpoint {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "model.safetensors", buf.Bytes())
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A range of a BF16 or F16 tensor reads exactly its 16-bit values (the
// bytes as stored); an F32 tensor and bad ranges are refused, naming the
// tensor; a bad value past the range start is named by its index in the
// tensor.
func TestReadHalfRange(t *testing.T) {
	dir := t.TempDir()
	vals := []float32{1, -2.5, 0.1, 3e-5, 65504, -0.0, 7, 1.0 / 3}
	var tensors []Tensor
	for _, dt := range []DType{F32, F16, BF16} {
		b, err := FromFloat32(dt, vals)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, Tensor{Name: "w." + string(dt), DType: dt, Shape: []int{2, 4}, Data: b})
	}
	bad, _ := FromFloat32(BF16, []float32{0, 1, 2, float32(math.Inf(-1))})
	tensors = append(tensors, Tensor{Name: "bad", DType: BF16, Shape: []int{4}, Data: bad})
	c := openTensors(t, dir, tensors)
	for _, dt := range []DType{F16, BF16} {
		name := "w." + string(dt)
		_, raw, err := c.ReadRaw(name)
		if err != nil {
			t.Fatal(err)
		}
		wide, _ := c.ReadFloat32(name)
		for _, r := range [][2]int64{{0, 8}, {3, 6}, {7, 8}, {4, 4}} {
			got, err := c.ReadHalfRange(name, r[0], r[1])
			if err != nil || len(got) != int(r[1]-r[0]) {
				t.Fatalf("%s %v: %d values, %v", name, r, len(got), err)
			}
			for i, h := range got {
				j := r[0] + int64(i)
				if want := uint16(raw[2*j]) | uint16(raw[2*j+1])<<8; h != want {
					t.Fatalf("%s %v: element %d = %#04x, want %#04x", name, r, j, h, want)
				}
				if w, _ := ToFloat32(dt, []byte{byte(h), byte(h >> 8)}); w[0] != wide[j] {
					t.Fatalf("%s: element %d widens to %v, ReadFloat32 gives %v", name, j, w[0], wide[j])
				}
			}
		}
		for _, r := range [][2]int64{{-1, 3}, {4, 2}, {0, 9}} {
			if _, err := c.ReadHalfRange(name, r[0], r[1]); err == nil || !strings.Contains(err.Error(), "tensor ["+name+"]: range") {
				t.Errorf("%s %v: %v", name, r, err)
			}
		}
	}
	if _, err := c.ReadHalfRange("w.F32", 0, 8); err == nil || !strings.Contains(err.Error(), "tensor [w.F32] is F32, not BF16 or F16") {
		t.Errorf("F32 tensor: %v", err)
	}
	if _, err := c.ReadHalfRange("nothere", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := c.ReadHalfRange("bad", 2, 4); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "element 3 is -Inf") {
		t.Errorf("bad range: %v", err)
	}
	if got, err := c.ReadHalfRange("bad", 0, 3); err != nil || len(got) != 3 {
		t.Errorf("finite part of bad: %v, %v", got, err)
	}
}

// A range of a tensor reads exactly those elements; bad ranges are refused.
func TestReadFloat32Range(t *testing.T) {
	c, err := OpenDir(filepath.Join("..", "..", "testdata", "stories260K-base"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	name := "model.embed_tokens.weight"
	all, err := c.ReadFloat32(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 1}, {5, 700}, {int64(len(all)) - 3, int64(len(all))}} {
		got, err := c.ReadFloat32Range(name, r[0], r[1])
		if err != nil || len(got) != int(r[1]-r[0]) {
			t.Fatalf("%v: %d values, %v", r, len(got), err)
		}
		for i, v := range got {
			if v != all[r[0]+int64(i)] {
				t.Fatalf("%v: element %d differs", r, i)
			}
		}
	}
	for _, r := range [][2]int64{{-1, 3}, {4, 2}, {0, int64(len(all)) + 1}} {
		if _, err := c.ReadFloat32Range(name, r[0], r[1]); err == nil || !strings.Contains(err.Error(), "outside its") {
			t.Errorf("%v: %v", r, err)
		}
	}
}
