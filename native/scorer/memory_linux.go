package scorer

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory backs a guest's linear memory by one anonymous mapping of its
// maximum size, reserved without commitment: growing only hands out more of
// it, so memory never moves and no old copy waits for the garbage
// collector. (wazero's default appends to a Go slice; a guest growing to a
// 64 MiB limit a page at a time took the host's RSS to ~300 MiB.) Untouched
// pages cost no RSS; the mapping is released when the instance closes.
type mmapMemory struct{ buf []byte }

func newLinearMemory(_, max uint64) experimental.LinearMemory {
	if max == 0 {
		return &mmapMemory{}
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mmapMemory{buf: b}
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		syscall.Munmap(m.buf)
		m.buf = nil
	}
}

var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newLinearMemory)
