// Package parallel splits a range of independent work items over the
// machine's cores.
package parallel

import (
	"runtime"
	"sync"
)

// For calls fn on consecutive chunks [lo, hi) covering [0, n), on up to
// GOMAXPROCS goroutines, and returns when all are done. Ranges shorter than
// 2·minChunk run on the caller's goroutine.
func For(n, minChunk int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(minChunk, 1))
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
