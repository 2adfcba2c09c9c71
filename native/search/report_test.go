package search

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

// The report's charts are well-formed SVG holding the expected series
// (legends), its table numbers have 3 significant digits, and
// best-plan.json is the search row's plan whatever the rows' order.
func TestReportChartsAndTables(t *testing.T) {
	dir := t.TempDir()
	var trials []Trial
	for i := 0; i < 12; i++ {
		b := []int{1, 3, 9}[i%3]
		key := string(rune('a' + i/3))
		ret := []float64{0.5 + 0.01*float64(i), 0.9 - 0.01*float64(i)}
		trials = append(trials, Trial{Index: i, Budget: b, Key: key, Retention: ret, Costs: []float64{1 - ret[0], 1 - ret[1]}, Objective: (ret[0] + ret[1]) / 2})
	}
	trials = append(trials, Trial{Index: 12, Budget: 9, Key: "z", Error: "boom", Objective: math.NaN()})
	win := &plan.Plan{Version: 1, Name: "winner", Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}}}}
	rows := []Comparison{
		{Kind: "dense", Name: "dense base", Retention: []float64{1, 1}, Objective: 1},
		{Kind: KindSearch, Name: "search best", Plan: win, Retention: []float64{0.6951, 1.23456}, Objective: 0.6951},
	}
	if err := Report(dir, ReportInput{Tasks: []string{"t1", "t2"}, Objectives: []string{"t1", "t2"}, Objective: "min retention", Trials: trials, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"objective.svg": {"budget 1", "budget 3", "budget 9", "best so far (budget 9)", "Objective per trial", "min retention"},
		"pareto.svg":    {"Pareto front (all objectives)", "retention: t1", "retention: t2"},
		"retention.svg": {"search best", "dense base", "t1", "t2"},
		"fidelity.svg":  {"budget 1 → 3 (4 configs)", "budget 3 → 9 (4 configs)"},
	} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(string(raw)))
		var text strings.Builder
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not XML: %v", name, err)
			}
			if c, ok := tok.(xml.CharData); ok {
				text.Write(c)
			}
		}
		for _, w := range want {
			if !strings.Contains(text.String(), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, w := range []string{"| search best | 69.5% | 123% | 69.5% |", "| 1 → 3 | 4 | 1 | 1 |", "objective: min retention", "trial 12: boom"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q:\n%s", w, md)
		}
	}
	bp, _ := os.ReadFile(filepath.Join(dir, "best-plan.json"))
	if !strings.Contains(string(bp), `"winner"`) {
		t.Errorf("best-plan.json is not the search row's plan: %s", bp)
	}
}
