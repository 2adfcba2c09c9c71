package search

import (
	"fmt"
	"math"
	"strings"
)

// finiteOrNil is &v, or nil when v is NaN or ±Inf (JSON null).
func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// nullable is v with its non-finite entries as nil (JSON null).
func nullable(v []float64) []*float64 {
	if v == nil {
		return nil
	}
	out := make([]*float64, len(v))
	for i, x := range v {
		out[i] = finiteOrNil(x)
	}
	return out
}

// fromNullable reads nulls back as NaN.
func fromNullable(v []*float64) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// nonFinite says why an outcome cannot rank a candidate ("" when it can):
// a NaN or infinite objective or cost would poison the promotions and the
// surrogate, so the trial is journaled as failed with this reason.
func nonFinite(o Outcome) string {
	var bad []string
	if math.IsNaN(o.Objective) || math.IsInf(o.Objective, 0) {
		bad = append(bad, fmt.Sprintf("objective %v", o.Objective))
	}
	for i, c := range o.Costs {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			bad = append(bad, fmt.Sprintf("cost %d %v", i, c))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "the evaluation gave a non-finite " + strings.Join(bad, ", ") + " (a task's metric or its reference is NaN or infinite)"
}

// MinEta is the smallest Hyperband η accepted. The brackets number
// ⌊log_η(max/min)⌋+1 and the first starts about (s_max+1)·η^s_max
// candidates, so as η nears 1 both grow without bound (η 1.0001 over
// budgets 3–27 asks for 21,973 brackets); at 1.5 they stay a few dozen.
const MinEta = 1.5

// MaxBrackets bounds the schedule whatever the budgets.
const MaxBrackets = 64

func checkEta(eta float64) error {
	if eta != 0 && (!(eta >= MinEta) || math.IsInf(eta, 0)) {
		return fmt.Errorf("eta %v: Hyperband's η must be a finite number of at least %v (0: the default %v)", eta, MinEta, DefaultEta)
	}
	return nil
}

// MaxFirstRung bounds the candidates Hyperband's largest bracket starts
// with (they are drawn before the first is evaluated).
const MaxFirstRung = 10000

// checkSchedule refuses budgets and η whose Hyperband schedule is too
// large to hold, before Brackets builds it.
func checkSchedule(minBudget, maxBudget int, eta float64) error {
	if minBudget < 1 || maxBudget <= minBudget {
		return nil
	}
	if eta == 0 {
		eta = DefaultEta
	}
	sMax := math.Floor(math.Log(float64(maxBudget)/float64(minBudget))/math.Log(eta) + 1e-9)
	n := math.Ceil((sMax + 1) * math.Pow(eta, sMax))
	if sMax+1 > MaxBrackets || n > MaxFirstRung {
		return fmt.Errorf("budgets %d–%d with eta %v: Hyperband's schedule would have %v brackets, the first starting %.0f candidates (limits %d and %d): narrow the budgets or raise eta", minBudget, maxBudget, eta, sMax+1, n, MaxBrackets, MaxFirstRung)
	}
	return nil
}
