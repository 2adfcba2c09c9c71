package engine

import (
	"runtime"
	"sync"
)

// WindowBatch is how many windows one forward call scores together.
const WindowBatch = 8

// ScoreWindows returns the log-probability of every predicted token of
// every window (positions 1..len-1), in window order. Batches of windows
// run concurrently on small models (whose GEMMs are too small to split);
// large models run one batch at a time with multi-threaded GEMMs. done, if
// not nil, is called with the number of windows finished.
func (n *Net) ScoreWindows(windows [][]int, done func(int)) ([][]float64, error) {
	out := make([][]float64, len(windows))
	workers := 1
	if n.Cfg.HiddenSize < 1024 {
		workers = runtime.GOMAXPROCS(0)
	}
	type job struct{ lo, hi int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				lps, err := n.LogProbs(windows[j.lo:j.hi])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				copy(out[j.lo:j.hi], lps)
				if done != nil {
					done(j.hi - j.lo)
				}
			}
		}()
	}
	for lo := 0; lo < len(windows); lo += WindowBatch {
		jobs <- job{lo, min(lo+WindowBatch, len(windows))}
	}
	close(jobs)
	wg.Wait()
	return out, firstErr
}
