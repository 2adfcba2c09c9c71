package search

import (
	"encoding/json"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// BudgetCorrelation is the multi-fidelity health check for one pair of
// budgets: over the configurations evaluated at both, how well the cheap
// objective ranks them as the expensive one does. Near 1: the low budget
// predicts the high one and Hyperband's early stopping is sound; near 0
// or below: Hyperband is discarding on noise.
type BudgetCorrelation struct {
	Low, High int     // samples per task
	N         int     // configurations evaluated at both
	Spearman  float64 // rank correlation (NaN below 3 configurations)
	Kendall   float64
}

// objectivesByBudget are the finished trials' objectives by budget and
// configuration key, and the budgets in increasing order.
func objectivesByBudget(trials []Trial) (map[int]map[string]float64, []int) {
	at := map[int]map[string]float64{}
	for _, t := range trials {
		if t.Error != "" {
			continue
		}
		if at[t.Budget] == nil {
			at[t.Budget] = map[string]float64{}
		}
		at[t.Budget][t.Key] = t.Objective
	}
	var budgets []int
	for b := range at {
		budgets = append(budgets, b)
	}
	sort.Ints(budgets)
	return at, budgets
}

// RankCorrelations is the check for every pair of budgets in the trials.
func RankCorrelations(trials []Trial) []BudgetCorrelation {
	at, budgets := objectivesByBudget(trials)
	var out []BudgetCorrelation
	for i, lo := range budgets {
		for _, hi := range budgets[i+1:] {
			var x, y []float64
			for k, v := range at[lo] {
				if w, ok := at[hi][k]; ok {
					x, y = append(x, v), append(y, w)
				}
			}
			c := BudgetCorrelation{Low: lo, High: hi, N: len(x), Spearman: nan(), Kendall: nan()}
			if len(x) >= 3 {
				c.Spearman = stat.Correlation(Ranks(x), Ranks(y), nil)
				c.Kendall = stat.Kendall(x, y, nil)
			}
			out = append(out, c)
		}
	}
	return out
}

// Ranks gives each value its rank (from 0), ties sharing their mean
// rank: Spearman's ρ is the Pearson correlation of two Ranks.
func Ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			out[idx[k]] = float64(i+j) / 2
		}
		i = j + 1
	}
	return out
}

func nan() float64 { return math.NaN() }

// MarshalJSON writes an undefined correlation (fewer than 3
// configurations) as null.
func (c BudgetCorrelation) MarshalJSON() ([]byte, error) {
	f := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Low      int      `json:"low"`
		High     int      `json:"high"`
		N        int      `json:"n"`
		Spearman *float64 `json:"spearman"`
		Kendall  *float64 `json:"kendall"`
	}{c.Low, c.High, c.N, f(c.Spearman), f(c.Kendall)})
}
