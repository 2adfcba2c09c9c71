package safetensors

import (
	"encoding/binary"
	"fmt"
	"github.com/gptailor/gptailor/native/bf16"
	"io"
	"math"

	st "github.com/nlpodyssey/safetensors"

	"github.com/gptailor/gptailor/native/f16"
)

// Tensor is one tensor to write.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian elements of DType
}

var toLib = map[DType]st.DType{F32: st.F32, F16: st.F16, BF16: st.BF16, F64: st.F64, I64: st.I64, I32: st.I32, I16: st.I16, I8: st.I8, U8: st.U8, Bool: st.BOOL}

// Write streams tensors as one safetensors file (the header is sorted as
// the format's reference implementation sorts it).
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	views := make(map[string]st.TensorView, len(tensors))
	for _, t := range tensors {
		dt, ok := toLib[t.DType]
		if !ok {
			return fmt.Errorf("tensor [%s]: cannot write dtype %s", t.Name, t.DType)
		}
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		v, err := st.NewTensorView(dt, shape, t.Data)
		if err != nil {
			return fmt.Errorf("tensor [%s]: %w", t.Name, err)
		}
		if _, dup := views[t.Name]; dup {
			return fmt.Errorf("tensor [%s] written twice", t.Name)
		}
		views[t.Name] = v
	}
	return st.SerializeToWriter(views, metadata, w)
}

// FromFloat32 encodes float32 values as dt (F32, F16 or BF16, rounding to
// nearest even).
func FromFloat32(dt DType, v []float32) ([]byte, error) {
	switch dt {
	case F32:
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b, nil
	case BF16:
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], bf16.FromFloat32(x))
		}
		return b, nil
	case F16:
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], f16.FromFloat32(x))
		}
		return b, nil
	}
	return nil, fmt.Errorf("dtype %s cannot be written from float32 (F32, F16 and BF16 can)", dt)
}
