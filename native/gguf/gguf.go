// Package gguf writes GGUF v3 files, the single-file format llama.cpp,
// Ollama and LM Studio load: key/value metadata, tensor descriptors, then
// the tensors' data, each aligned. The header is written first (every
// tensor's type and shape, hence its size and offset, is known before its
// data), so tensors are streamed one at a time and the whole model is
// never held in memory. quant.go holds the element types (F32, F16, BF16,
// Q8_0, Q4_0) as llama.cpp encodes them.
package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Version is the GGUF version written.
const Version = 3

// Alignment of the data section and of every tensor in it
// (general.alignment's default).
const Alignment = 32

// Value types of metadata (gguf_type).
const (
	typeUint8   = 0
	typeInt8    = 1
	typeUint16  = 2
	typeInt16   = 3
	typeUint32  = 4
	typeInt32   = 5
	typeFloat32 = 6
	typeBool    = 7
	typeString  = 8
	typeArray   = 9
	typeUint64  = 10
	typeInt64   = 11
	typeFloat64 = 12
)

type kv struct {
	key string
	val any
}

// TensorInfo describes one tensor: Shape is row-major as in safetensors
// (the last dimension is a row); the file stores it reversed (ggml's ne).
type TensorInfo struct {
	Name  string
	Shape []int
	Type  Type
}

// Elements is the number of values.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Bytes is the size of the tensor's data.
func (t TensorInfo) Bytes() int64 {
	tr := traits[t.Type]
	return t.Elements() / int64(tr.block) * int64(tr.size)
}

// Writer collects metadata and tensor descriptors, then writes the file.
type Writer struct {
	kvs     []kv
	keys    map[string]bool
	tensors []TensorInfo
	names   map[string]bool
}

// NewWriter starts an empty file description.
func NewWriter() *Writer { return &Writer{keys: map[string]bool{}, names: map[string]bool{}} }

// Set adds a metadata key. Values: uint32, int32, uint64, float32,
// float64, bool, string and slices []string, []float32, []int32, []uint32.
// Keys are written in the order they are set; setting a key twice is an
// error.
func (w *Writer) Set(key string, v any) error {
	if w.keys[key] {
		return fmt.Errorf("gguf: key %s set twice", key)
	}
	switch v.(type) {
	case uint32, int32, uint64, float32, float64, bool, string, []string, []float32, []int32, []uint32:
	default:
		return fmt.Errorf("gguf: key %s: unsupported value type %T", key, v)
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, kv{key, v})
	return nil
}

// Get returns a key's value as set.
func (w *Writer) Get(key string) (any, bool) {
	for _, e := range w.kvs {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// AddTensor appends a tensor descriptor; its data comes later, in the same
// order. A quantized type needs rows that are whole blocks.
func (w *Writer) AddTensor(t TensorInfo) error {
	tr, ok := traits[t.Type]
	if !ok {
		return fmt.Errorf("gguf: tensor %s: unknown type %d", t.Name, t.Type)
	}
	if w.names[t.Name] {
		return fmt.Errorf("gguf: tensor %s added twice", t.Name)
	}
	if len(t.Shape) == 0 || len(t.Shape) > 4 {
		return fmt.Errorf("gguf: tensor %s: %d dimensions (1 to 4)", t.Name, len(t.Shape))
	}
	if row := t.Shape[len(t.Shape)-1]; row%tr.block != 0 {
		return fmt.Errorf("gguf: tensor %s: rows of %d values are not whole %s blocks of %d", t.Name, row, t.Type, tr.block)
	}
	w.names[t.Name] = true
	w.tensors = append(w.tensors, t)
	return nil
}

// Tensors lists the descriptors in file order.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// Size is the length of the file Write produces.
func (w *Writer) Size() int64 {
	cw := &countWriter{}
	w.writeHeader(cw)
	n := pad(cw.n)
	for _, t := range w.tensors {
		n = pad(n + t.Bytes())
	}
	return n
}

func pad(n int64) int64 { return (n + Alignment - 1) / Alignment * Alignment }

// Write writes the file to out: the header, then data(i) for every tensor
// i in order, each checked against its descriptor's size and padded to the
// alignment. data is called once per tensor, so the caller produces one
// tensor at a time.
func (w *Writer) Write(out io.Writer, data func(i int, t TensorInfo) ([]byte, error)) (int64, error) {
	bw := bufio.NewWriterSize(out, 1<<20)
	cw := &countWriter{w: bw}
	if err := w.writeHeader(cw); err != nil {
		return cw.n, err
	}
	var zeros [Alignment]byte
	padTo := func() error {
		_, err := cw.Write(zeros[:pad(cw.n)-cw.n])
		return err
	}
	if err := padTo(); err != nil {
		return cw.n, err
	}
	for i, t := range w.tensors {
		b, err := data(i, t)
		if err != nil {
			return cw.n, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if int64(len(b)) != t.Bytes() {
			return cw.n, fmt.Errorf("gguf: tensor %s: %d bytes of data, its descriptor says %d", t.Name, len(b), t.Bytes())
		}
		if _, err := cw.Write(b); err != nil {
			return cw.n, err
		}
		if err := padTo(); err != nil {
			return cw.n, err
		}
	}
	return cw.n, bw.Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (w *Writer) writeHeader(cw *countWriter) error {
	le := binary.LittleEndian
	var b []byte
	b = append(b, 'G', 'G', 'U', 'F')
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(len(w.tensors)))
	b = le.AppendUint64(b, uint64(len(w.kvs)))
	for _, e := range w.kvs {
		b = appendString(b, e.key)
		b = appendValue(b, e.val)
	}
	var off int64
	for _, t := range w.tensors {
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- {
			b = le.AppendUint64(b, uint64(t.Shape[i]))
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, uint64(off))
		off = pad(off + t.Bytes())
	}
	_, err := cw.Write(b)
	return err
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any) []byte {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint32:
		b = le.AppendUint32(b, typeUint32)
		return le.AppendUint32(b, x)
	case int32:
		b = le.AppendUint32(b, typeInt32)
		return le.AppendUint32(b, uint32(x))
	case uint64:
		b = le.AppendUint32(b, typeUint64)
		return le.AppendUint64(b, x)
	case float32:
		b = le.AppendUint32(b, typeFloat32)
		return le.AppendUint32(b, math.Float32bits(x))
	case float64:
		b = le.AppendUint32(b, typeFloat64)
		return le.AppendUint64(b, math.Float64bits(x))
	case bool:
		b = le.AppendUint32(b, typeBool)
		if x {
			return append(b, 1)
		}
		return append(b, 0)
	case string:
		b = le.AppendUint32(b, typeString)
		return appendString(b, x)
	case []string:
		b = arrayHead(b, typeString, len(x))
		for _, s := range x {
			b = appendString(b, s)
		}
	case []float32:
		b = arrayHead(b, typeFloat32, len(x))
		for _, f := range x {
			b = le.AppendUint32(b, math.Float32bits(f))
		}
	case []int32:
		b = arrayHead(b, typeInt32, len(x))
		for _, f := range x {
			b = le.AppendUint32(b, uint32(f))
		}
	case []uint32:
		b = arrayHead(b, typeUint32, len(x))
		for _, f := range x {
			b = le.AppendUint32(b, f)
		}
	}
	return b
}

func arrayHead(b []byte, elem uint32, n int) []byte {
	b = binary.LittleEndian.AppendUint32(b, typeArray)
	b = binary.LittleEndian.AppendUint32(b, elem)
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}
