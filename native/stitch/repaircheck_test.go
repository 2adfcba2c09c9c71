package stitch

import "testing"

func TestSplitCalibration(t *testing.T) {
	win := func(n int) [][]int {
		w := make([][]int, n)
		for i := range w {
			w[i] = []int{i, i}
		}
		return w
	}
	for _, c := range []struct{ n, samples, fit, held int }{
		{80, 64, 64, 16},  // samples and a quarter more: the quarter held out
		{100, 64, 64, 16}, // extra windows unused
		{40, 64, 32, 8},   // a short file: its last fifth
		{4, 64, 3, 1},     // at least one
		{1, 64, 1, 0},     // a single window: nothing held out
		{3, 2, 2, 1},      // samples 2: one held out
	} {
		fit, held := SplitCalibration(win(c.n), c.samples)
		if len(fit) != c.fit || len(held) != c.held {
			t.Errorf("%d windows, %d samples: %d fit, %d held; want %d, %d", c.n, c.samples, len(fit), len(held), c.fit, c.held)
			continue
		}
		if c.held > 0 && held[0][0] != c.fit {
			t.Errorf("%d windows: held-out windows start at %d, want %d (right after the fitted ones)", c.n, held[0][0], c.fit)
		}
	}
}
