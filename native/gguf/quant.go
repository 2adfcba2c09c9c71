package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/f16"
)

// Type is a ggml element type (ggml_type).
type Type uint32

// The element types gptailor writes.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q8_0 Type = 8
	BF16 Type = 30
)

// BlockSize is the number of values of one Q8_0 or Q4_0 block.
const BlockSize = 32

type trait struct {
	name        string
	block, size int // values per block, bytes per block
	fileType    uint32
}

var traits = map[Type]trait{
	F32:  {"f32", 1, 4, 0},
	F16:  {"f16", 1, 2, 1},
	Q4_0: {"q4_0", BlockSize, 2 + BlockSize/2, 2},
	Q8_0: {"q8_0", BlockSize, 2 + BlockSize, 7},
	BF16: {"bf16", 1, 2, 32},
}

func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Quantized says whether t stores blocks with a scale (Q8_0, Q4_0).
func (t Type) Quantized() bool { return traits[t].block > 1 }

// FileType is general.file_type (llama_ftype) of a file whose large
// matrices are of type t.
func (t Type) FileType() uint32 { return traits[t].fileType }

// ParseType reads a --type value: f32, f16, bf16, q8_0 or q4_0.
func ParseType(s string) (Type, error) {
	for t, tr := range traits {
		if tr.name == strings.ToLower(s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown type %q: f32, f16, bf16, q8_0 or q4_0", s)
}

// Encode stores v in type t. For Q8_0 and Q4_0, len(v) must be a whole
// number of blocks (rows are, when AddTensor accepted the shape).
func Encode(t Type, v []float32) ([]byte, error) {
	le := binary.LittleEndian
	switch t {
	case F32:
		b := make([]byte, 4*len(v))
		for i, x := range v {
			le.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b, nil
	case F16, BF16:
		conv := f16.FromFloat32
		if t == BF16 {
			conv = bf16.FromFloat32
		}
		b := make([]byte, 2*len(v))
		for i, x := range v {
			le.PutUint16(b[2*i:], conv(x))
		}
		return b, nil
	case Q8_0, Q4_0:
		if len(v)%BlockSize != 0 {
			return nil, fmt.Errorf("gguf: %d values are not whole %s blocks", len(v), t)
		}
		size := traits[t].size
		b := make([]byte, len(v)/BlockSize*size)
		for k := 0; k < len(v)/BlockSize; k++ {
			blk := v[k*BlockSize : (k+1)*BlockSize]
			if t == Q8_0 {
				quantQ8(b[k*size:(k+1)*size], blk)
			} else {
				quantQ4(b[k*size:(k+1)*size], blk)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("gguf: cannot encode type %s", t)
}

// quantQ8 is ggml's quantize_row_q8_0_ref on one block: the scale is the
// largest magnitude / 127, stored as binary16; each value is x·(1/d)
// rounded half away from zero. Every step is a float32 operation (the
// explicit conversions keep Go from fusing them), as in the C reference.
func quantQ8(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, f16.FromFloat32(d))
	for j, v := range x {
		p := float32(v * id)
		dst[2+j] = byte(int8(math.Round(float64(p))))
	}
}

// quantQ4 is quantize_row_q4_0_ref on one block: the scale is the value of
// largest magnitude (its sign kept, the first on ties) / -8; each value
// becomes min(15, trunc(x·(1/d) + 8.5)). The reference rounds x·(1/d) +
// 8.5 once when the compiler fuses it into an FMA, twice when not; this
// computes it as gguf-py does (the product and sum in float64, then
// float32), which equals the fused form, so a block can differ from a
// non-FMA build of llama.cpp by one step in a value (see the tests).
// Nibbles: value j in the low half of byte j, value j+16 in the high half.
func quantQ4(dst []byte, x []float32) {
	vmax := x[0]
	amax := float32(math.Abs(float64(vmax)))
	for _, v := range x[1:] {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, vmax = a, v
		}
	}
	d := vmax / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, f16.FromFloat32(d))
	q := func(v float32) byte {
		s := float32(float64(v)*float64(id) + 8.5)
		return byte(min(15, max(0, int(math.Trunc(float64(s))))))
	}
	for j := 0; j < BlockSize/2; j++ {
		dst[2+j] = q(x[j]) | q(x[j+BlockSize/2])<<4
	}
}

// Decode reads n values of type t from b, as ggml's dequantize_row_*.
func Decode(t Type, b []byte, n int) ([]float32, error) {
	tr, ok := traits[t]
	if !ok || n%tr.block != 0 || len(b) != n/tr.block*tr.size {
		return nil, fmt.Errorf("gguf: %d bytes are not %d values of type %s", len(b), n, t)
	}
	le := binary.LittleEndian
	v := make([]float32, n)
	switch t {
	case F32:
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F16:
		for i := range v {
			v[i] = f16.ToFloat32(le.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range v {
			v[i] = bf16.ToFloat32(le.Uint16(b[2*i:]))
		}
	case Q8_0:
		for k := 0; k < n/BlockSize; k++ {
			blk := b[k*tr.size:]
			d := f16.ToFloat32(le.Uint16(blk))
			for j := 0; j < BlockSize; j++ {
				v[k*BlockSize+j] = float32(int8(blk[2+j])) * d
			}
		}
	case Q4_0:
		for k := 0; k < n/BlockSize; k++ {
			blk := b[k*tr.size:]
			d := f16.ToFloat32(le.Uint16(blk))
			for j := 0; j < BlockSize/2; j++ {
				v[k*BlockSize+j] = float32(int(blk[2+j]&0x0f)-8) * d
				v[k*BlockSize+j+BlockSize/2] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	}
	return v, nil
}

// RoundTrip replaces v by the values a file of type t holds for it
// (Encode then Decode), in place: what llama.cpp computes with.
func RoundTrip(t Type, v []float32) error {
	if t == F32 {
		return nil
	}
	b, err := Encode(t, v)
	if err != nil {
		return err
	}
	w, err := Decode(t, b, len(v))
	if err != nil {
		return err
	}
	copy(v, w)
	return nil
}

// StorageType is the type a tensor of a file of type t is stored in, as
// convert_hf_to_gguf.py decides: vectors (norms, biases) stay F32; in a
// quantized file, a matrix whose rows are not whole blocks falls back to
// F16. In a Q4_0 file the output projection (the embeddings when tied)
// is Q8_0: llama.cpp's own Q4_0 files keep it at higher precision (Q6_K,
// a K-quant gptailor does not write). head marks that projection.
func StorageType(t Type, dims, rowLen int, head bool) Type {
	switch {
	case dims <= 1:
		return F32
	case t.Quantized() && rowLen%BlockSize != 0:
		return F16
	case t == Q4_0 && head:
		return Q8_0
	}
	return t
}
