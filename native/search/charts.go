package search

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The report's charts, drawn with gonum/plot: axes, ticks, labels and
// legends.

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff},
	color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

func svg(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// objectiveChart: every finished trial's objective by index, one series
// per budget, and the best so far at the top budget.
func objectiveChart(trials []Trial, objective string) ([]byte, error) {
	p := newPlot("Objective per trial", "trial", objective)
	by := map[int]plotter.XYs{}
	top := 0
	for _, t := range trials {
		if t.Error == "" {
			by[t.Budget] = append(by[t.Budget], plotter.XY{X: float64(t.Index), Y: t.Objective})
			top = max(top, t.Budget)
		}
	}
	var budgets []int
	for b := range by {
		budgets = append(budgets, b)
	}
	sort.Ints(budgets)
	for i, b := range budgets {
		s, err := plotter.NewScatter(by[b])
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Radius, s.GlyphStyle.Shape = palette[i%len(palette)], vg.Points(2), draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("budget %d", b), s)
	}
	var best plotter.XYs
	cur := math.Inf(-1)
	for _, t := range trials {
		if t.Error == "" && t.Budget == top && t.Objective > cur {
			cur = t.Objective
		}
		if !math.IsInf(cur, -1) {
			best = append(best, plotter.XY{X: float64(t.Index), Y: cur})
		}
	}
	if len(best) > 0 {
		l, err := plotter.NewLine(best)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, l.LineStyle.Width = color.Black, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("best so far (budget %d)", top), l)
	}
	return svg(p, 7*vg.Inch, 4*vg.Inch)
}

// paretoChart: retention on the first two objectives at the top budget,
// the Pareto front over every objective highlighted.
func paretoChart(names []string, ts []Trial, front []int) ([]byte, error) {
	p := newPlot("Retention at the top budget", "retention: "+names[0], "retention: "+names[1])
	on := map[int]bool{}
	for _, i := range front {
		on[i] = true
	}
	var rest, fr plotter.XYs
	for i, t := range ts {
		xy := plotter.XY{X: t.Retention[0], Y: t.Retention[1]}
		if on[i] {
			fr = append(fr, xy)
		} else {
			rest = append(rest, xy)
		}
	}
	for _, s := range []struct {
		xy    plotter.XYs
		label string
		c     color.Color
	}{{rest, "dominated", palette[7]}, {fr, "Pareto front (all objectives)", palette[3]}} {
		if len(s.xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(s.xy)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = s.c, vg.Points(3), draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(s.label, sc)
	}
	return svg(p, 6*vg.Inch, 4.5*vg.Inch)
}

// retentionChart: per task, a bar per report row (winner, baselines,
// dense models).
func retentionChart(tasks []string, rows []Comparison) ([]byte, error) {
	p := newPlot("Retention per task", "task", "retention")
	w := vg.Points(float64(min(14, 120/max(len(rows), 1))))
	for i, r := range rows {
		if len(r.Retention) != len(tasks) {
			continue
		}
		bars, err := plotter.NewBarChart(plotter.Values(r.Retention), w)
		if err != nil {
			return nil, err
		}
		bars.Color, bars.LineStyle.Width = palette[i%len(palette)], 0
		bars.Offset = w * vg.Length(float64(i)-float64(len(rows)-1)/2)
		p.Add(bars)
		p.Legend.Add(r.Name, bars)
	}
	p.NominalX(tasks...)
	p.Legend.Top, p.Legend.Left = true, false
	return svg(p, 8*vg.Inch, 5*vg.Inch)
}

// fidelityChart: for each pair of consecutive budgets, the objective at
// the high budget against the low one, configuration by configuration.
func fidelityChart(trials []Trial) ([]byte, error) {
	p := newPlot("Do cheap budgets predict expensive ones?", "objective at the lower budget", "objective at the higher budget")
	at, budgets := objectivesByBudget(trials)
	for i := 0; i+1 < len(budgets); i++ {
		lo, hi := budgets[i], budgets[i+1]
		var xy plotter.XYs
		for k, v := range at[lo] {
			if w, ok := at[hi][k]; ok {
				xy = append(xy, plotter.XY{X: v, Y: w})
			}
		}
		if len(xy) == 0 {
			continue
		}
		sort.Slice(xy, func(a, b int) bool { return xy[a].X < xy[b].X })
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Radius, s.GlyphStyle.Shape = palette[i%len(palette)], vg.Points(2.5), draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("budget %d → %d (%d configs)", lo, hi, len(xy)), s)
	}
	return svg(p, 6*vg.Inch, 4.5*vg.Inch)
}
