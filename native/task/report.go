package task

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Report is what `eval --tasks --json` prints: lm-eval's results layout,
// plus retention against a reference when one was evaluated.
type Report struct {
	Results        map[string]map[string]any  `json:"results"`
	NSamples       map[string]map[string]int  `json:"n-samples"`
	Config         map[string]any             `json:"config"`
	Versions       map[string]int             `json:"versions"`
	HigherIsBetter map[string]map[string]bool `json:"higher_is_better"`
	Reference      map[string]map[string]any  `json:"reference_results,omitempty"`
	Retention      map[string]float64         `json:"retention,omitempty"` // per task, and "mean" (weighted)
	Tasks          []*Result                  `json:"-"`
	RefTasks       []*Result                  `json:"-"`
}

func lmEval(r *Result) map[string]any {
	out := map[string]any{"alias": r.Name}
	for k, v := range r.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k+",none"] = "N/A"
			continue
		}
		out[k+",none"] = v
	}
	return out
}

// NewReport assembles the report of a candidate (and optionally a reference).
func NewReport(model, reference string, res, ref []*Result) *Report {
	r := &Report{Results: map[string]map[string]any{}, NSamples: map[string]map[string]int{}, Versions: map[string]int{},
		HigherIsBetter: map[string]map[string]bool{}, Tasks: res, RefTasks: ref,
		Config: map[string]any{"model": model}}
	for _, t := range res {
		r.Results[t.Name] = lmEval(t)
		r.NSamples[t.Name] = map[string]int{"original": t.NOriginal, "effective": t.NEffective}
		r.Versions[t.Name] = 1
		hb := map[string]bool{}
		for k := range t.Metrics {
			if v, ok := metricsOf[t.Type][k]; ok {
				hb[k] = v
			}
		}
		r.HigherIsBetter[t.Name] = hb
	}
	if ref != nil {
		r.Config["reference"] = reference
		r.Reference = map[string]map[string]any{}
		r.Retention = map[string]float64{}
		var sum, wsum float64
		for i, t := range res {
			r.Reference[t.Name] = lmEval(ref[i])
			ret := Retention(t, ref[i])
			r.Retention[t.Name] = ret
			if !math.IsNaN(ret) {
				sum += t.Weight * ret
				wsum += t.Weight
			}
		}
		if wsum > 0 {
			r.Retention["mean"] = sum / wsum
		}
	}
	return r
}

// Table writes a human-readable table.
func (r *Report) Table(w io.Writer) {
	fmt.Fprintf(w, "%-18s %-18s %12s %10s", "task", "metric", "value", "± stderr")
	if r.RefTasks != nil {
		fmt.Fprintf(w, " %12s %10s", "reference", "retention")
	}
	fmt.Fprintf(w, " %8s %8s\n", "samples", "seconds")
	for i, t := range r.Tasks {
		names := make([]string, 0, len(t.Metrics))
		for k := range t.Metrics {
			if !strings.HasSuffix(k, "_stderr") {
				names = append(names, k)
			}
		}
		sort.Slice(names, func(a, b int) bool {
			if (names[a] == t.Primary) != (names[b] == t.Primary) {
				return names[a] == t.Primary
			}
			return names[a] < names[b]
		})
		for j, k := range names {
			task, samples, secs := "", "", ""
			if j == 0 {
				task, samples, secs = t.Name, fmt.Sprint(t.NEffective), fmt.Sprintf("%.1f", t.Seconds)
			}
			se := ""
			if v, ok := t.Metrics[k+"_stderr"]; ok && !math.IsNaN(v) {
				se = fmt.Sprintf("%.4f", v)
			}
			fmt.Fprintf(w, "%-18s %-18s %12.4f %10s", task, k, t.Metrics[k], se)
			if r.RefTasks != nil {
				ret := ""
				if k == t.Primary {
					ret = fmt.Sprintf("%.1f%%", 100*r.Retention[t.Name])
				}
				fmt.Fprintf(w, " %12.4f %10s", r.RefTasks[i].Metrics[k], ret)
			}
			fmt.Fprintf(w, " %8s %8s\n", samples, secs)
		}
	}
	if m, ok := r.Retention["mean"]; ok {
		fmt.Fprintf(w, "mean retention (weighted, primary metrics): %.1f%%\n", 100*m)
	}
}
