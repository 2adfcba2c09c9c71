package session

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat"

	"github.com/gptailor/gptailor/native/task"
)

// Interval is a confidence interval (NaN ends when unknown; JSON [lo, hi]
// or null).
type Interval struct {
	Lo, Hi float64
}

// BootstrapRounds is the number of resamples behind an interval.
const BootstrapRounds = 1000

// Bootstrap is, per task, the 95 % percentile interval of a candidate's
// retention: the task's samples are resampled with replacement (the
// candidate's and the reference's together: they are the same samples)
// rounds times with a fixed seed, and the primary metric recomputed on
// each resample.
func Bootstrap(res, ref []*task.Result, rounds int, seed uint64) []Interval {
	out := make([]Interval, len(res))
	r := rand.New(rand.NewPCG(seed, 0xb007))
	for t := range res {
		out[t] = Interval{math.NaN(), math.NaN()}
		n := len(res[t].Samples)
		if n == 0 || len(ref[t].Samples) != n {
			continue
		}
		vals := make([]float64, 0, rounds)
		idx := make([]int, n)
		for b := 0; b < rounds; b++ {
			for i := range idx {
				idx[i] = r.IntN(n)
			}
			cv, ok1 := task.PrimaryOn(res[t], idx)
			rv, ok2 := task.PrimaryOn(ref[t], idx)
			if !ok1 || !ok2 {
				continue
			}
			c := &task.Result{Type: res[t].Type, Primary: res[t].Primary, HigherIsBetter: res[t].HigherIsBetter, Metrics: map[string]float64{res[t].Primary: cv}}
			rf := &task.Result{Type: ref[t].Type, Primary: ref[t].Primary, HigherIsBetter: ref[t].HigherIsBetter, Metrics: map[string]float64{ref[t].Primary: rv}}
			if v := task.Retention(c, rf); !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals = append(vals, v)
			}
		}
		if len(vals) < rounds/2 {
			continue
		}
		sort.Float64s(vals)
		out[t] = Interval{stat.Quantile(0.025, stat.Empirical, vals, nil), stat.Quantile(0.975, stat.Empirical, vals, nil)}
	}
	return out
}

// MarshalJSON writes an unknown interval as null.
func (iv Interval) MarshalJSON() ([]byte, error) {
	if math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return []byte("null"), nil
	}
	return json.Marshal([2]float64{iv.Lo, iv.Hi})
}

// UnmarshalJSON reads null as an unknown interval.
func (iv *Interval) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*iv = Interval{math.NaN(), math.NaN()}
		return nil
	}
	var v [2]float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*iv = Interval{v[0], v[1]}
	return nil
}
