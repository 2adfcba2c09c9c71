package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Planned is a tensor whose header entry is known before its data exists.
type Planned struct {
	Name  string
	DType DType
	Shape []int
}

// Bytes is the size of the tensor's data.
func (p Planned) Bytes() int64 {
	n := int64(p.DType.Size())
	for _, d := range p.Shape {
		n *= int64(d)
	}
	return n
}

// StreamWriter writes one safetensors file tensor by tensor: the header is
// written first from the planned tensors, then each tensor's data in the
// same order, so no more than one tensor is ever held in memory (the
// library's serializer needs every tensor of the file at once).
type StreamWriter struct {
	w     *bufio.Writer
	plan  []Planned
	next  int
	wrote int64
}

// NewStreamWriter writes the header for tensors (in that order) to w.
func NewStreamWriter(w io.Writer, tensors []Planned, metadata map[string]string) (*StreamWriter, error) {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if t.DType.Size() == 0 {
			return nil, fmt.Errorf("tensor [%s]: unknown dtype %q", t.Name, t.DType)
		}
		if _, dup := header[t.Name]; dup {
			return nil, fmt.Errorf("tensor [%s] planned twice", t.Name)
		}
		header[t.Name] = map[string]any{"dtype": t.DType, "shape": t.Shape, "data_offsets": []int64{off, off + t.Bytes()}}
		off += t.Bytes()
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 { // align the data section, as the reference writer does
		h = append(h, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h)))
	if _, err := bw.Write(n[:]); err != nil {
		return nil, err
	}
	if _, err := bw.Write(h); err != nil {
		return nil, err
	}
	return &StreamWriter{w: bw, plan: tensors}, nil
}

// Write appends the next planned tensor's data.
func (s *StreamWriter) Write(name string, data []byte) error {
	if s.next >= len(s.plan) {
		return fmt.Errorf("tensor [%s] was not planned", name)
	}
	p := s.plan[s.next]
	if p.Name != name {
		return fmt.Errorf("tensor [%s] written where [%s] was planned", name, p.Name)
	}
	if int64(len(data)) != p.Bytes() {
		return fmt.Errorf("tensor [%s]: %d bytes, planned %d", name, len(data), p.Bytes())
	}
	s.next++
	_, err := s.w.Write(data)
	return err
}

// Close flushes; every planned tensor must have been written.
func (s *StreamWriter) Close() error {
	if s.next != len(s.plan) {
		return fmt.Errorf("%d of %d planned tensors written", s.next, len(s.plan))
	}
	return s.w.Flush()
}
