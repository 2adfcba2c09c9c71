package engine

import (
	"fmt"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// Source gives the tensors of one layer (by role: model.Q, ...) or of a
// head (HeadEmbed, HeadNorm, HeadLM) one at a time, so a layer is packed
// matrix by matrix and a 16-bit tensor goes into its panels a block of
// rows at a time, never widened whole: a 1B BF16 layer is 121 MB packed
// but was 243 MB more as float32 while it was read, a 1B head 1 GB more.
type Source interface {
	// Format is how Half gives the tensor: BF16 or F16; F32 when it only
	// comes as float32.
	Format(name string) kernel.Format
	// Float32 is the whole tensor as float32 (norms, biases, and any
	// tensor of format F32).
	Float32(name string) ([]float32, error)
	// Half calls put with the tensor's 16-bit values in consecutive blocks
	// of whole rows of rowLen values, from the first row.
	Half(name string, rowLen int, put func(v []uint16) error) error
}

// The names a head's Source gives.
const (
	HeadEmbed = "embed"
	HeadNorm  = "final_norm"
	HeadLM    = "lm_head"
)

// mapSource is a Source over float32 tensors held in a map.
type mapSource map[string][]float32

func (m mapSource) Format(string) kernel.Format { return kernel.F32 }

func (m mapSource) Float32(name string) ([]float32, error) { return m[name], nil }

func (m mapSource) Half(name string, _ int, _ func([]uint16) error) error {
	return fmt.Errorf("tensor %s is float32", name)
}

// CheckpointSource gives layer i of m (layer >= 0; by role) or m's head
// (layer < 0) from its checkpoint: BF16 and F16 tensors in 16 bits.
func CheckpointSource(m *model.Model, layer int) Source { return ckptSource{m, layer} }

type ckptSource struct {
	m     *model.Model
	layer int
}

func (s ckptSource) tensor(name string) string {
	if s.layer >= 0 {
		return s.m.LayerTensorName(name, s.layer)
	}
	switch name {
	case HeadEmbed:
		return s.m.Arch.Embed
	case HeadNorm:
		return s.m.Arch.FinalNorm
	}
	return s.m.Arch.LMHead
}

func (s ckptSource) Format(name string) kernel.Format {
	info, _ := s.m.Tensors.Info(s.tensor(name))
	return FormatOf(info.DType)
}

func (s ckptSource) Float32(name string) ([]float32, error) {
	return s.m.Tensors.ReadFloat32(s.tensor(name))
}

func (s ckptSource) Half(name string, rowLen int, put func([]uint16) error) error {
	return ReadHalf(s.m, s.tensor(name), rowLen, put)
}

// ReadHalf reads a BF16 or F16 tensor of m's checkpoint and gives its
// 16-bit values to put about blockValues at a time, in whole rows of
// rowLen values.
func ReadHalf(m *model.Model, tensor string, rowLen int, put func([]uint16) error) error {
	info, ok := m.Tensors.Info(tensor)
	if !ok {
		return fmt.Errorf("[%s]: %w [%s]", m.Dir, safetensors.ErrNotFound, tensor)
	}
	return Blocks(info.NumElements(), rowLen, blockValues, func(lo, hi int64) error {
		v, err := m.Tensors.ReadHalfRange(tensor, lo, hi)
		if err != nil {
			return err
		}
		return put(v)
	})
}

// FormatOf is the kernel format of a checkpoint dtype (F32 for any other).
func FormatOf(dt safetensors.DType) kernel.Format {
	switch dt {
	case safetensors.BF16:
		return kernel.BF16
	case safetensors.F16:
		return kernel.F16
	}
	return kernel.F32
}

// blockValues is about how many values a checkpoint's Half reads at a
// time (8 MB of BF16).
var blockValues int64 = 1 << 22

// Blocks calls f with consecutive ranges [lo, hi) of n values, each whole
// rows of rowLen values and about size values long (at least one row).
func Blocks(n int64, rowLen int, size int64, f func(lo, hi int64) error) error {
	row := int64(max(rowLen, 1))
	step := max(1, size/row) * row
	for lo := int64(0); lo < n; lo += step {
		if err := f(lo, min(lo+step, n)); err != nil {
			return err
		}
	}
	return nil
}

// part is one tensor of a packed matrix and how many values it must have.
type part struct {
	name string
	n    int
}

// packParts packs the matrix whose rows are those of parts, in order
// (rows of k values), as kernel.PackRows does, reading 16-bit tensors in
// blocks straight into 16-bit panels. zero says every value is 0 (how
// build writes a skipped sub-block's output projection).
func packParts(src Source, k int, parts ...part) (p *kernel.Packed, zero bool, err error) {
	f := src.Format(parts[0].name)
	rows := 0
	for _, pt := range parts {
		if src.Format(pt.name) != f {
			f = kernel.F32
		}
		rows += pt.n / k
	}
	if f == kernel.F32 {
		vs := make([][]float32, len(parts))
		zero = true
		for i, pt := range parts {
			if vs[i], err = src.Float32(pt.name); err != nil {
				return nil, false, err
			}
			if len(vs[i]) != pt.n {
				return nil, false, fmt.Errorf("tensor %s has %d values, want %d", pt.name, len(vs[i]), pt.n)
			}
			zero = zero && allZero(vs[i])
		}
		return kernel.PackRows(k, vs...), zero, nil
	}
	p, zero = kernel.NewPacked(rows, k, f), true
	r0 := 0
	for _, pt := range parts {
		got := 0
		err := src.Half(pt.name, k, func(v []uint16) error {
			if got+len(v) > pt.n || len(v)%k != 0 {
				return fmt.Errorf("tensor %s gives more than %d values or not whole rows of %d", pt.name, pt.n, k)
			}
			p.SetRows16(r0+got/k, v)
			got += len(v)
			for i := 0; zero && i < len(v); i++ {
				zero = v[i]&0x7fff == 0 // ±0 in BF16 and F16
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		if got != pt.n {
			return nil, false, fmt.Errorf("tensor %s has %d values, want %d", pt.name, got, pt.n)
		}
		r0 += pt.n / k
	}
	return p, zero, nil
}

// vector reads a 1-D tensor of n values as float32.
func vector(src Source, name string, n int) ([]float32, error) {
	v, err := src.Float32(name)
	if err == nil && len(v) != n {
		err = fmt.Errorf("tensor %s has %d values, want %d", name, len(v), n)
	}
	return v, err
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// elems is the number of values of a layer tensor of cfg.
func elems(cfg *model.Config, role string) int {
	n := 1
	for _, d := range cfg.ExpectedShape(role) {
		n *= d
	}
	return n
}
