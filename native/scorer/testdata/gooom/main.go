//go:build wasip1

// Command gooom is a hostile scoring module for the tests: its score call
// allocates until the sandbox's memory limit stops it, as a careless Go
// scorer would.
package main

import "unsafe"

var (
	input []byte
	keep  [][]byte
)

//go:wasmexport gptailor_alloc
func alloc(size int32) int32 {
	input = make([]byte, size)
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(input))))
}

//go:wasmexport gptailor_score
func score(ptr, size int32) int32 {
	for {
		b := make([]byte, 1<<20)
		for i := range b { // touch every page
			b[i] = 1
		}
		keep = append(keep, b)
	}
}

//go:wasmexport gptailor_result
func result() float64 { return float64(len(keep)) }

//go:wasmexport gptailor_message
func message() int64 { return 0 }

func main() {}
