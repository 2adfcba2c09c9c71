package search

import (
	"math"
	"sort"
)

// Rung is one step of a successive-halving bracket: N configurations at
// Budget samples per task.
type Rung struct{ N, Budget int }

// Brackets is Hyperband's schedule (Li et al.), as SMAC computes it: with
// s_max = ⌊log_η(max/min)⌋, bracket s starts n = ⌈(s_max+1)/(s+1)·η^s⌉
// configurations at max·η^−s and keeps ⌊n·η^−i⌋ of them at max·η^(i−s).
// min 100, max 1000, η 3: 9@111 → 3@333 → 1@1000; 5@333 → 1@1000; 3@1000.
func Brackets(minBudget, maxBudget int, eta float64) [][]Rung {
	if minBudget >= maxBudget {
		return [][]Rung{{{N: 1, Budget: maxBudget}}}
	}
	sMax := int(math.Floor(math.Log(float64(maxBudget)/float64(minBudget))/math.Log(eta) + 1e-9))
	var out [][]Rung
	for s := sMax; s >= 0; s-- {
		n := int(math.Ceil(float64(sMax+1) / float64(s+1) * math.Pow(eta, float64(s))))
		var b []Rung
		for i := 0; i <= s; i++ {
			b = append(b, Rung{
				N:      int(math.Floor(float64(n)*math.Pow(eta, -float64(i)) + 1e-9)),
				Budget: int(float64(maxBudget)*math.Pow(eta, float64(i-s)) + 1e-9),
			})
		}
		out = append(out, b)
	}
	return out
}

// promote picks the k best cost vectors by non-dominated sorting, breaking
// ties inside a front by crowding distance (largest first), as SMAC's
// multi-objective successive halving does. Failed entries (nil) come last.
func promote(costs [][]float64, k int) []int {
	var alive, dead []int
	for i, c := range costs {
		if c == nil {
			dead = append(dead, i)
		} else {
			alive = append(alive, i)
		}
	}
	var out []int
	remaining := alive
	for len(remaining) > 0 && len(out) < k {
		var front, rest []int
		for _, i := range remaining {
			dominated := false
			for _, j := range remaining {
				if j != i && dominates(costs[j], costs[i]) {
					dominated = true
					break
				}
			}
			if dominated {
				rest = append(rest, i)
			} else {
				front = append(front, i)
			}
		}
		if len(out)+len(front) > k {
			cd := crowding(costs, front)
			sort.SliceStable(front, func(a, b int) bool {
				if cd[front[a]] != cd[front[b]] {
					return cd[front[a]] > cd[front[b]]
				}
				return front[a] < front[b]
			})
			front = front[:k-len(out)]
		}
		out = append(out, front...)
		remaining = rest
	}
	for _, i := range dead {
		if len(out) < k {
			out = append(out, i)
		}
	}
	return out
}

func dominates(a, b []float64) bool {
	better := false
	for i := range a {
		if a[i] > b[i] {
			return false
		}
		if a[i] < b[i] {
			better = true
		}
	}
	return better
}

// crowding is NSGA-II's crowding distance within one front.
func crowding(costs [][]float64, front []int) map[int]float64 {
	d := map[int]float64{}
	if len(front) == 0 {
		return d
	}
	for m := range costs[front[0]] {
		idx := append([]int(nil), front...)
		sort.SliceStable(idx, func(a, b int) bool { return costs[idx[a]][m] < costs[idx[b]][m] })
		lo, hi := costs[idx[0]][m], costs[idx[len(idx)-1]][m]
		d[idx[0]], d[idx[len(idx)-1]] = math.Inf(1), math.Inf(1)
		if hi == lo {
			continue
		}
		for i := 1; i < len(idx)-1; i++ {
			d[idx[i]] += (costs[idx[i+1]][m] - costs[idx[i-1]][m]) / (hi - lo)
		}
	}
	return d
}

// ParetoFront returns the indices of the non-dominated cost vectors.
func ParetoFront(costs [][]float64) []int {
	var out []int
	for i, c := range costs {
		if c == nil {
			continue
		}
		dom := false
		for j, o := range costs {
			if j != i && o != nil && dominates(o, c) {
				dom = true
				break
			}
		}
		if !dom {
			out = append(out, i)
		}
	}
	return out
}
