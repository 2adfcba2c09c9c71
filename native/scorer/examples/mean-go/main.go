//go:build wasip1

// Command mean-go is an example gptailor scoring module written in Go:
// the weighted mean over tasks of the retention of each task's primary
// metric when the document carries a reference, else of the primary metric
// itself (negated when lower is better). Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mean-go.wasm ./native/scorer/examples/mean-go
package main

import (
	"encoding/json"
	"unsafe"
)

type document struct {
	Tasks []struct {
		Name           string             `json:"name"`
		Weight         float64            `json:"weight"`
		Primary        string             `json:"primary"`
		HigherIsBetter bool               `json:"higher_is_better"`
		Metrics        map[string]float64 `json:"metrics"`
	} `json:"tasks"`
	Retention map[string]float64 `json:"retention"`
}

var (
	input   []byte
	result  float64
	message string
)

//go:wasmexport gptailor_alloc
func alloc(size int32) int32 {
	input = make([]byte, size)
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(input))))
}

//go:wasmexport gptailor_score
func score(ptr, size int32) int32 {
	var d document
	if err := json.Unmarshal(input[:size], &d); err != nil {
		return fail(1, "document: "+err.Error())
	}
	if len(d.Tasks) == 0 {
		return fail(2, "the document has no tasks")
	}
	var sum, wsum float64
	for _, t := range d.Tasks {
		v, ok := d.Retention[t.Name]
		if !ok {
			v, ok = t.Metrics[t.Primary]
			if !ok {
				return fail(3, "task "+t.Name+" has no value for its primary metric "+t.Primary)
			}
			if !t.HigherIsBetter {
				v = -v
			}
		}
		sum += t.Weight * v
		wsum += t.Weight
	}
	if wsum == 0 {
		return fail(4, "all task weights are 0")
	}
	result = sum / wsum
	return 0
}

func fail(code int32, msg string) int32 {
	message = msg
	return code
}

//go:wasmexport gptailor_result
func getResult() float64 { return result }

//go:wasmexport gptailor_message
func getMessage() int64 {
	if message == "" {
		return 0
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(message)))
	return int64(p)<<32 | int64(len(message))
}

func main() {}
