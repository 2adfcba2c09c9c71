// Package safetensors reads safetensors checkpoints lazily: opening a file
// parses and validates only its header, and a tensor's bytes are read
// (pread) and widened to float32 when someone asks for that tensor. It
// handles single files and sharded checkpoints with a
// model.safetensors.index.json, and the dtypes F32, F16 and BF16 (other
// dtypes are recognised in headers and refused when read as float32).
//
// github.com/nlpodyssey/safetensors works on one []byte holding a whole
// file and has no sharding, no bf16/f16 widening and no per-tensor reads,
// so reading is ours; writing (native/build) uses that library's streaming
// serializer.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// MaxHeaderSize bounds the JSON header we are willing to parse (the format's
// reference implementation uses 100 MB).
const MaxHeaderSize = 100 << 20

// DType is a tensor element type as spelled in safetensors headers.
type DType string

// Dtypes of the format. Only F32, F16 and BF16 can be widened to float32.
const (
	F64     DType = "F64"
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I64     DType = "I64"
	I32     DType = "I32"
	I16     DType = "I16"
	I8      DType = "I8"
	U8      DType = "U8"
	Bool    DType = "BOOL"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	unknown DType = ""
)

var dtypeSizes = map[DType]int{
	F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, Bool: 1, F8E4M3: 1, F8E5M2: 1,
}

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets relative to the start of the data
	// section (just after the header), End exclusive.
	Begin, End int64
}

// NumElements is the product of the shape (1 for a scalar).
func (t Info) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Header is a parsed, validated safetensors header.
type Header struct {
	// DataStart is the absolute file offset of the data section.
	DataStart int64
	Tensors   map[string]Info
	Metadata  map[string]string
}

// Names lists the tensor names in sorted order.
func (h *Header) Names() []string {
	names := make([]string, 0, len(h.Tensors))
	for n := range h.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("malformed safetensors")

// ParseHeader parses the header at the start of a safetensors file.
// prefix holds at least the first 8 bytes; readHeader returns the n header
// bytes that follow them. fileSize is the file's length, used to check that
// every tensor lies inside the file.
func ParseHeader(first8 []byte, readHeader func(n int64) ([]byte, error), fileSize int64) (*Header, error) {
	if len(first8) < 8 || fileSize < 8 {
		return nil, fmt.Errorf("%w: file of %d bytes is shorter than the 8-byte header length", ErrFormat, fileSize)
	}
	n := binary.LittleEndian.Uint64(first8[:8])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d byte limit", ErrFormat, n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return nil, fmt.Errorf("%w: header length %d runs past the end of the %d byte file", ErrFormat, n, fileSize)
	}
	raw, err := readHeader(int64(n))
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	return parseJSON(raw, 8+int64(n), fileSize)
}

// ParseBytes parses a header from a whole file held in memory (tests, fuzzing).
func ParseBytes(file []byte) (*Header, error) {
	return ParseHeader(file, func(n int64) ([]byte, error) { return file[8 : 8+n], nil }, int64(len(file)))
}

type rawInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

func parseJSON(raw []byte, dataStart, fileSize int64) (*Header, error) {
	raw = bytes.TrimRight(raw, " ") // the format allows trailing spaces as padding
	var entries map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the header's JSON object", ErrFormat)
	}
	h := &Header{DataStart: dataStart, Tensors: make(map[string]Info, len(entries))}
	dataLen := fileSize - dataStart
	for name, msg := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return nil, fmt.Errorf("%w: __metadata__ must map strings to strings: %v", ErrFormat, err)
			}
			continue
		}
		var ri rawInfo
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ri); err != nil {
			return nil, fmt.Errorf("%w: tensor [%s]: %v", ErrFormat, name, err)
		}
		if ri.DType == nil || ri.Shape == nil || ri.DataOffsets == nil {
			return nil, fmt.Errorf("%w: tensor [%s]: needs dtype, shape and data_offsets", ErrFormat, name)
		}
		dt := DType(*ri.DType)
		if dt.Size() == 0 {
			return nil, fmt.Errorf("%w: tensor [%s]: unknown dtype %q", ErrFormat, name, *ri.DType)
		}
		off := *ri.DataOffsets
		if len(off) != 2 {
			return nil, fmt.Errorf("%w: tensor [%s]: data_offsets must hold 2 numbers, has %d", ErrFormat, name, len(off))
		}
		if off[0] < 0 || off[1] < off[0] || off[1] > dataLen {
			return nil, fmt.Errorf("%w: tensor [%s]: data_offsets [%d, %d] out of range (data section is %d bytes)", ErrFormat, name, off[0], off[1], dataLen)
		}
		shape := make([]int, len(*ri.Shape))
		elems := int64(1)
		for i, d := range *ri.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("%w: tensor [%s]: shape[%d] = %d is invalid", ErrFormat, name, i, d)
			}
			shape[i] = int(d)
			if d != 0 && elems > math.MaxInt64/d {
				return nil, fmt.Errorf("%w: tensor [%s]: shape %v overflows", ErrFormat, name, *ri.Shape)
			}
			elems *= d
		}
		if want := elems * int64(dt.Size()); want != off[1]-off[0] {
			return nil, fmt.Errorf("%w: tensor [%s]: shape %v of %s needs %d bytes but data_offsets span %d", ErrFormat, name, shape, dt, want, off[1]-off[0])
		}
		h.Tensors[name] = Info{Name: name, DType: dt, Shape: shape, Begin: off[0], End: off[1]}
	}
	// Tensors must not overlap.
	infos := make([]Info, 0, len(h.Tensors))
	for _, t := range h.Tensors {
		if t.End > t.Begin {
			infos = append(infos, t)
		}
	}
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].Begin != infos[j].Begin {
			return infos[i].Begin < infos[j].Begin
		}
		return infos[i].Name < infos[j].Name
	})
	for i := 1; i < len(infos); i++ {
		if infos[i].Begin < infos[i-1].End {
			return nil, fmt.Errorf("%w: tensors [%s] and [%s] overlap", ErrFormat, infos[i-1].Name, infos[i].Name)
		}
	}
	return h, nil
}
