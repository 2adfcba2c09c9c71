package scorer

import (
	"errors"
	"fmt"
)

// declared is what a module asks the host to allocate before any of its
// code runs: its tables (entries) and its memory (pages, the minimum).
// wazero allocates a table's declared minimum at instantiation (up to 2²⁷
// entries, 1 GiB), outside the memory limit, so the host reads these from
// the binary itself and refuses what the limits do not cover.
type declared struct {
	tableEntries uint64 // every table's minimum, summed
	tables       int
	memoryPages  uint64 // the memory's declared minimum
}

// Section ids of the WebAssembly binary format.
const (
	secImport = 2
	secTable  = 4
	secMemory = 5
)

// readDeclared walks the sections of a module that wazero has already
// compiled (so the encoding is known to be valid) and sums its tables and
// memory. Anything it does not understand is refused rather than guessed.
func readDeclared(wasm []byte) (declared, error) {
	var d declared
	r := &reader{b: wasm, at: 8}
	for r.at < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return d, err
		}
		size, err := r.u32()
		if err != nil {
			return d, err
		}
		end := r.at + int(size)
		if end > len(r.b) || end < r.at {
			return d, fmt.Errorf("section %d runs past the end of the module", id)
		}
		body := &reader{b: r.b[:end], at: r.at}
		switch id {
		case secImport:
			err = d.imports(body)
		case secTable:
			err = d.tableSection(body)
		case secMemory:
			err = d.memorySection(body)
		}
		if err != nil {
			return d, err
		}
		r.at = end
	}
	return d, nil
}

func (d *declared) imports(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		mod, err := r.name()
		if err != nil {
			return err
		}
		field, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0: // function: a type index
			if _, err := r.u32(); err != nil {
				return err
			}
		case 1:
			return fmt.Errorf("imports the table %s.%s: a module may import functions only", mod, field)
		case 2:
			return fmt.Errorf("imports the memory %s.%s: the module must define and export its own", mod, field)
		default:
			return fmt.Errorf("imports %s.%s of kind %d: a module may import functions only", mod, field, kind)
		}
	}
	return nil
}

func (d *declared) tableSection(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		t, err := r.byte()
		if err != nil {
			return err
		}
		if t != 0x70 { // funcref; externref and typed tables need reference types, which are off
			return fmt.Errorf("table %d has element type 0x%x: only funcref tables are allowed", i, t)
		}
		lo, _, err := r.limits()
		if err != nil {
			return err
		}
		d.tableEntries += uint64(lo)
		d.tables++
	}
	return nil
}

func (d *declared) memorySection(r *reader) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		lo, _, err := r.limits()
		if err != nil {
			return err
		}
		d.memoryPages += uint64(lo)
	}
	return nil
}

// reader decodes the few LEB128 forms the section walk needs.
type reader struct {
	b  []byte
	at int
}

var errShort = errors.New("module ends inside a section")

func (r *reader) byte() (byte, error) {
	if r.at >= len(r.b) {
		return 0, errShort
	}
	r.at++
	return r.b[r.at-1], nil
}

func (r *reader) u32() (uint32, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, errors.New("LEB128 value past 32 bits")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("LEB128 value longer than 5 bytes")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	if uint64(r.at)+uint64(n) > uint64(len(r.b)) {
		return "", errShort
	}
	s := string(r.b[r.at : r.at+int(n)])
	r.at += int(n)
	return s, nil
}

// limits reads a table's or memory's limits; flag bits other than "has a
// maximum" (shared memories, 64-bit indices) are refused.
func (r *reader) limits() (lo uint32, hi *uint32, err error) {
	flag, err := r.byte()
	if err != nil {
		return 0, nil, err
	}
	if flag > 1 {
		return 0, nil, fmt.Errorf("limits flag 0x%x: shared or 64-bit memories and tables are not allowed", flag)
	}
	if lo, err = r.u32(); err != nil {
		return 0, nil, err
	}
	if flag == 1 {
		h, err := r.u32()
		if err != nil {
			return 0, nil, err
		}
		hi = &h
	}
	return lo, hi, nil
}
