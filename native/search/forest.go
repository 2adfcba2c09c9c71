package search

import (
	"math"
	"math/rand/v2"
	"sort"
)

// forest is a random-forest regression surrogate (CART trees on bootstrap
// samples, a random third of the features tried at each split), as SMAC
// uses: the mean and the spread of the trees' predictions.
type forest struct {
	trees []*node
}

type node struct {
	feature   int
	threshold float64
	left      *node
	right     *node
	value     float64 // leaf mean
	leaf      bool
}

const (
	forestTrees  = 10
	minLeaf      = 2
	maxTreeDepth = 20
	featureFrac  = 5.0 / 6.0
)

func fitForest(X [][]float64, y []float64, r *rand.Rand) *forest {
	f := &forest{}
	n := len(X)
	for t := 0; t < forestTrees; t++ {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = r.IntN(n)
		}
		f.trees = append(f.trees, grow(X, y, idx, 0, r))
	}
	return f
}

func mean(y []float64, idx []int) float64 {
	var s float64
	for _, i := range idx {
		s += y[i]
	}
	return s / float64(len(idx))
}

func grow(X [][]float64, y []float64, idx []int, depth int, r *rand.Rand) *node {
	m := mean(y, idx)
	if len(idx) < 2*minLeaf || depth >= maxTreeDepth {
		return &node{leaf: true, value: m}
	}
	d := len(X[0])
	try := max(1, int(math.Ceil(featureFrac*float64(d))))
	feats := r.Perm(d)[:try]
	bestGain, bestF, bestT := 0.0, -1, 0.0
	var sse0 float64
	for _, i := range idx {
		sse0 += (y[i] - m) * (y[i] - m)
	}
	vals := make([]float64, 0, len(idx))
	for _, f := range feats {
		vals = vals[:0]
		for _, i := range idx {
			vals = append(vals, X[i][f])
		}
		sort.Float64s(vals)
		for k := 1; k < len(vals); k++ {
			if vals[k] == vals[k-1] {
				continue
			}
			t := (vals[k] + vals[k-1]) / 2
			var nl, nr int
			var sl, sr, ql, qr float64
			for _, i := range idx {
				v := y[i]
				if X[i][f] <= t {
					nl++
					sl += v
					ql += v * v
				} else {
					nr++
					sr += v
					qr += v * v
				}
			}
			if nl < minLeaf || nr < minLeaf {
				continue
			}
			sse := ql - sl*sl/float64(nl) + qr - sr*sr/float64(nr)
			if gain := sse0 - sse; gain > bestGain+1e-12 {
				bestGain, bestF, bestT = gain, f, t
			}
		}
	}
	if bestF < 0 {
		return &node{leaf: true, value: m}
	}
	var li, ri []int
	for _, i := range idx {
		if X[i][bestF] <= bestT {
			li = append(li, i)
		} else {
			ri = append(ri, i)
		}
	}
	return &node{feature: bestF, threshold: bestT, left: grow(X, y, li, depth+1, r), right: grow(X, y, ri, depth+1, r)}
}

func (n *node) predict(x []float64) float64 {
	for !n.leaf {
		if x[n.feature] <= n.threshold {
			n = n.left
		} else {
			n = n.right
		}
	}
	return n.value
}

// predict returns the mean and standard deviation across trees.
func (f *forest) predict(x []float64) (float64, float64) {
	var s, q float64
	for _, t := range f.trees {
		v := t.predict(x)
		s += v
		q += v * v
	}
	n := float64(len(f.trees))
	m := s / n
	return m, math.Sqrt(math.Max(q/n-m*m, 1e-12))
}

// expectedImprovement below the incumbent best (minimisation).
func expectedImprovement(mu, sigma, best float64) float64 {
	if sigma <= 0 {
		return math.Max(best-mu, 0)
	}
	z := (best - mu) / sigma
	return (best-mu)*normCDF(z) + sigma*normPDF(z)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
func normPDF(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }
