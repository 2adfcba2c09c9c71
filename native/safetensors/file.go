package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"unsafe"

	"github.com/gptailor/gptailor/native/parallel"

	"github.com/gptailor/gptailor/native/f16"
)

// File is one open safetensors file. Only the header is read at Open; tensor
// bytes are read on demand with ReadAt, so opening a large checkpoint costs
// a few kilobytes.
type File struct {
	Path   string
	Header *Header
	f      *os.File
}

// Open opens and validates one safetensors file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var first [8]byte
	n, _ := io.ReadFull(f, first[:])
	h, err := ParseHeader(first[:n], func(size int64) ([]byte, error) {
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, 8); err != nil {
			return nil, err
		}
		return buf, nil
	}, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("[%s]: %w", path, err)
	}
	return &File{Path: path, Header: h, f: f}, nil
}

// Close releases the file.
func (f *File) Close() error { return f.f.Close() }

// ReadRaw reads the bytes of one tensor.
func (f *File) ReadRaw(t Info) ([]byte, error) {
	buf := make([]byte, t.End-t.Begin)
	if _, err := f.f.ReadAt(buf, f.Header.DataStart+t.Begin); err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, t.Name, err)
	}
	return buf, nil
}

// ReadFloat32 reads one tensor and widens it to float32.
func (f *File) ReadFloat32(name string) ([]float32, error) {
	t, ok := f.Header.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", f.Path, ErrNotFound, name)
	}
	raw, err := f.ReadRaw(t)
	if err != nil {
		return nil, err
	}
	out, err := ToFloat32(t.DType, raw)
	if err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
	}
	if err := checkFinite(out); err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
	}
	return out, nil
}

// ErrNonFinite is wrapped when a tensor holds NaN or ±Inf: a damaged or
// diverged checkpoint, whose scores would be NaN.
var ErrNonFinite = errors.New("non-finite weight")

func checkFinite(v []float32) error {
	bad := -1
	var mu sync.Mutex
	parallel.For(len(v), 1<<18, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if x := v[i]; x-x != 0 { // NaN and ±Inf
				mu.Lock()
				if bad < 0 || i < bad {
					bad = i
				}
				mu.Unlock()
				return
			}
		}
	})
	if bad >= 0 {
		return fmt.Errorf("%w: element %d is %v (the checkpoint is damaged or diverged)", ErrNonFinite, bad, v[bad])
	}
	return nil
}

// ReadFloat32Range reads elements [lo, hi) of a tensor (in its flattened
// order) widened to float32, checked like ReadFloat32: a slice of a large
// tensor without holding all of it.
func (f *File) ReadFloat32Range(name string, lo, hi int64) ([]float32, error) {
	t, ok := f.Header.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", f.Path, ErrNotFound, name)
	}
	sz := int64(t.DType.Size())
	if lo < 0 || hi < lo || sz == 0 || t.Begin+hi*sz > t.End {
		return nil, fmt.Errorf("[%s] tensor [%s]: range [%d, %d) outside its %d elements", f.Path, name, lo, hi, t.NumElements())
	}
	buf := make([]byte, (hi-lo)*sz)
	if _, err := f.f.ReadAt(buf, f.Header.DataStart+t.Begin+lo*sz); err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
	}
	out, err := ToFloat32(t.DType, buf)
	if err == nil {
		err = checkFinite(out)
	}
	if err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
	}
	return out, nil
}

// ReadHalfRange reads elements [lo, hi) of a BF16 or F16 tensor (in its
// flattened order) as its 16-bit values, checked like ReadFloat32: weights
// that stay 16-bit in the kernels are read without a float32 copy.
func (f *File) ReadHalfRange(name string, lo, hi int64) ([]uint16, error) {
	t, ok := f.Header.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", f.Path, ErrNotFound, name)
	}
	if t.DType != BF16 && t.DType != F16 {
		return nil, fmt.Errorf("[%s] tensor [%s] is %s, not BF16 or F16", f.Path, name, t.DType)
	}
	if lo < 0 || hi < lo || t.Begin+hi*2 > t.End {
		return nil, fmt.Errorf("[%s] tensor [%s]: range [%d, %d) outside its %d elements", f.Path, name, lo, hi, t.NumElements())
	}
	out := make([]uint16, hi-lo)
	if len(out) > 0 {
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 2*len(out))
		if _, err := f.f.ReadAt(raw, f.Header.DataStart+t.Begin+lo*2); err != nil {
			return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
		}
		if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // the file is little-endian
			for i, v := range out {
				out[i] = v>>8 | v<<8
			}
		}
	}
	if err := checkFiniteHalf(t.DType, out, lo); err != nil {
		return nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
	}
	return out, nil
}

// checkFiniteHalf refuses NaN and ±Inf among BF16 or F16 values (all
// exponent bits set).
func checkFiniteHalf(dt DType, v []uint16, lo int64) error {
	exp := uint16(0x7f80)
	if dt == F16 {
		exp = 0x7c00
	}
	for i, h := range v {
		if h&exp == exp {
			w, _ := ToFloat32(dt, []byte{byte(h), byte(h >> 8)})
			return fmt.Errorf("%w: element %d is %v (the checkpoint is damaged or diverged)", ErrNonFinite, lo+int64(i), w[0])
		}
	}
	return nil
}

// ErrNotFound is returned for a tensor a checkpoint does not hold.
var ErrNotFound = errors.New("no tensor")

// ToFloat32 widens little-endian F32, F16 or BF16 bytes to float32.
func ToFloat32(dt DType, raw []byte) ([]float32, error) {
	switch dt {
	case F32:
		out := make([]float32, len(raw)/4)
		parallel.For(len(out), 1<<18, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		})
		return out, nil
	case BF16:
		out := make([]float32, len(raw)/2)
		parallel.For(len(out), 1<<18, func(lo, hi int) {
			src := raw[2*lo : 2*hi]
			dst := out[lo:hi]
			for i := range dst {
				dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
			}
		})
		return out, nil
	case F16:
		out := make([]float32, len(raw)/2)
		parallel.For(len(out), 1<<18, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = f16.ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		})
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s cannot be read as float32 (F32, F16 and BF16 can)", dt)
}

// Checkpoint is the set of tensors of a model directory: one file or the
// shards named by model.safetensors.index.json.
type Checkpoint struct {
	Dir   string
	files []*File
	where map[string]*File
}

// IndexName is the index file of a sharded checkpoint.
const IndexName = "model.safetensors.index.json"

// OpenDir opens the checkpoint of a Hugging Face model directory.
func OpenDir(dir string) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, where: map[string]*File{}}
	idxPath := filepath.Join(dir, IndexName)
	if raw, err := os.ReadFile(idxPath); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("[%s]: %w", idxPath, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("[%s]: weight_map is empty", idxPath)
		}
		shards := map[string]*File{}
		names := make([]string, 0, len(idx.WeightMap))
		for name := range idx.WeightMap {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			shard := idx.WeightMap[name]
			if shard != filepath.Base(shard) {
				c.Close()
				return nil, fmt.Errorf("[%s]: weight_map[%q] = %q must name a file in the same directory", idxPath, name, shard)
			}
			f, ok := shards[shard]
			if !ok {
				var err error
				if f, err = Open(filepath.Join(dir, shard)); err != nil {
					c.Close()
					return nil, err
				}
				shards[shard] = f
				c.files = append(c.files, f)
			}
			if _, ok := f.Header.Tensors[name]; !ok {
				c.Close()
				return nil, fmt.Errorf("[%s]: weight_map puts tensor [%s] in %s, which does not hold it", idxPath, name, shard)
			}
			c.where[name] = f
		}
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	single := filepath.Join(dir, "model.safetensors")
	f, err := Open(single)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("[%s]: no model.safetensors and no %s", dir, IndexName)
		}
		return nil, err
	}
	c.files = []*File{f}
	for name := range f.Header.Tensors {
		c.where[name] = f
	}
	return c, nil
}

// Close closes every file of the checkpoint.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Info returns the description of a tensor.
func (c *Checkpoint) Info(name string) (Info, bool) {
	f, ok := c.where[name]
	if !ok {
		return Info{}, false
	}
	return f.Header.Tensors[name], true
}

// Names lists every tensor name, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DTypes counts the tensors of each dtype.
func (c *Checkpoint) DTypes() map[DType]int {
	out := map[DType]int{}
	for n, f := range c.where {
		out[f.Header.Tensors[n].DType]++
	}
	return out
}

// ReadFloat32 reads one tensor widened to float32.
func (c *Checkpoint) ReadFloat32(name string) ([]float32, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", c.Dir, ErrNotFound, name)
	}
	return f.ReadFloat32(name)
}

// ReadFloat32Range reads elements [lo, hi) of one tensor widened to float32.
func (c *Checkpoint) ReadFloat32Range(name string, lo, hi int64) ([]float32, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", c.Dir, ErrNotFound, name)
	}
	return f.ReadFloat32Range(name, lo, hi)
}

// ReadHalfRange reads elements [lo, hi) of one BF16 or F16 tensor as its
// 16-bit values.
func (c *Checkpoint) ReadHalfRange(name string, lo, hi int64) ([]uint16, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("[%s]: %w [%s]", c.Dir, ErrNotFound, name)
	}
	return f.ReadHalfRange(name, lo, hi)
}

// ReadRaw reads one tensor's bytes as stored, with its description.
func (c *Checkpoint) ReadRaw(name string) (Info, []byte, error) {
	f, ok := c.where[name]
	if !ok {
		return Info{}, nil, fmt.Errorf("[%s]: %w [%s]", c.Dir, ErrNotFound, name)
	}
	t := f.Header.Tensors[name]
	b, err := f.ReadRaw(t)
	if err != nil {
		return t, nil, err
	}
	if w, err := ToFloat32(t.DType, b); err == nil { // float tensors are checked as they are read
		if err := checkFinite(w); err != nil {
			return t, nil, fmt.Errorf("[%s] tensor [%s]: %w", f.Path, name, err)
		}
	}
	return t, b, nil
}
