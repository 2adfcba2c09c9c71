// Command quantstudy measures whether quantization changes which plan wins
// (RATIONALE "Quantization-aware search"): it runs a full-precision search
// over a family, scores every configuration the search tried at the top
// budget with its weights at full precision, Q8_0 and Q4_0 (as the GGUF
// file stores them), and reports the rank correlation between those
// objectives; then it runs the same search with --quant q4_0 and scores
// its winner and the full-precision winner both quantized. It draws the
// scatter of the objectives with gonum/plot.
//
//	go run ./perf/quantstudy -family testdata/stories260K-base -family testdata/stories260K-code ... \
//	    -tasks testdata/demo-tasks.yaml -out docs/quant-ranking.svg
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

type members []model.Member

func (m *members) String() string { return fmt.Sprint(*m) }
func (m *members) Set(v string) error {
	alias, dir, ok := strings.Cut(v, "=")
	if !ok {
		dir = v
		alias = strings.TrimPrefix(filepath.Base(v), "stories260K-")
		if len(*m) == 0 {
			alias = plan.BaseAlias
		}
	}
	*m = append(*m, model.Member{Alias: alias, Dir: dir})
	return nil
}

func main() {
	var fam members
	flag.Var(&fam, "family", "[alias=]DIR of a family model, the base first (repeatable)")
	tasks := flag.String("tasks", "", "task list")
	trials := flag.Int("trials", 40, "trials of each search")
	remove := flag.Int("remove", 1, "layers to remove")
	maxBudget := flag.Int("max-budget", 9, "samples per task at full fidelity (every plan is rescored at it)")
	seed := flag.Uint64("seed", 0, "search seed")
	out := flag.String("out", "docs/quant-ranking.svg", "the figure")
	flag.Parse()
	if err := study(fam, *tasks, *trials, *remove, *maxBudget, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "quantstudy:", err)
		os.Exit(1)
	}
}

func study(fam members, tasks string, trials, remove, maxBudget int, seed uint64, out string) error {
	if len(fam) < 2 || tasks == "" {
		return errors.New("give -family twice or more and -tasks")
	}
	ctx := context.Background()
	ses, err := session.Open(fam, tasks, session.CacheSizes(1024, 0))
	if err != nil {
		return err
	}
	defer ses.Family.Close()
	tmp, err := os.MkdirTemp("", "quantstudy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	runSearch := func(quant string) (*session.Outcome, error) {
		req := protocol.RunRequest{Remove: remove, Trials: &trials, MinSamples: 1, MaxSamples: maxBudget, Seed: seed, Quant: quant}
		dir := filepath.Join(tmp, "run-"+quant)
		res, err := session.Resolve(dir, req, fam, tasks, nil)
		if err != nil {
			return nil, err
		}
		run, err := session.New(ses.Family, ses.Specs).Prepare(res.Spec, dir)
		if err != nil {
			return nil, err
		}
		return run.Search(ctx, session.RunOptions{Dir: dir})
	}
	score := func(quant string, p *plan.Plan) (float64, error) {
		s := session.New(ses.Family, ses.Specs)
		s.Objective, s.Quant = session.DefaultObjective, quant
		ev, err := s.Evaluate(ctx, session.Target{Plan: p}, maxBudget, -1)
		if err != nil {
			return 0, err
		}
		return ev.Objective, nil
	}
	full, err := runSearch("")
	if err != nil {
		return err
	}
	// Every configuration the search tried, once.
	seen := map[string]bool{}
	var plans []*plan.Plan
	for _, t := range full.Trials {
		if t.Error != "" || seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		p, err := full.Space.Plan(t.Config, ses.Family.Dirs)
		if err != nil {
			return err
		}
		plans = append(plans, p)
	}
	quants := []string{"", "q8_0", "q4_0"}
	obj := map[string][]float64{}
	for _, q := range quants {
		for _, p := range plans {
			v, err := score(q, p)
			if err != nil {
				return err
			}
			obj[q] = append(obj[q], v)
		}
	}
	fmt.Printf("%d configurations of a %d-trial full-precision search (seed %d), scored at %d samples per task; objective %s\n\n",
		len(plans), trials, seed, maxBudget, session.DefaultObjective)
	fmt.Println("| weights | Spearman vs full precision | Kendall | best plan the same | mean objective |")
	fmt.Println("|---|---|---|---|---|")
	best := func(v []float64) int {
		i := 0
		for k := range v {
			if v[k] > v[i] {
				i = k
			}
		}
		return i
	}
	for _, q := range quants {
		rho := stat.Correlation(search.Ranks(obj[""]), search.Ranks(obj[q]), nil)
		tau := stat.Kendall(obj[""], obj[q], nil)
		fmt.Printf("| %s | %.3f | %.3f | %v | %.4f |\n", name(q), rho, tau, best(obj[q]) == best(obj[""]), stat.Mean(obj[q], nil))
	}
	// The q4_0 search's winner against the full-precision winner
	// quantized afterwards, both scored quantized.
	q4, err := runSearch("q4_0")
	if err != nil {
		return err
	}
	wFull, wQ4 := full.Winner().Plan, q4.Winner().Plan
	a, err := score("q4_0", wFull)
	if err != nil {
		return err
	}
	b, err := score("q4_0", wQ4)
	if err != nil {
		return err
	}
	fa, _ := score("", wFull)
	fb, _ := score("", wQ4)
	fmt.Printf("\n| winner | plan | objective, full precision | objective, Q4_0 |\n|---|---|---|---|\n")
	fmt.Printf("| full-precision search | %s | %.4f | %.4f |\n", describe(wFull), fa, a)
	fmt.Printf("| search --quant q4_0 | %s | %.4f | %.4f |\n", describe(wQ4), fb, b)
	return figure(out, obj, a, b, fa, fb)
}

func name(q string) string {
	if q == "" {
		return "full precision"
	}
	return strings.ToUpper(q)
}

func describe(p *plan.Plan) string {
	var s []string
	for _, sl := range p.Slots {
		s = append(s, strings.TrimSpace(sl.Describe()))
	}
	return strings.Join(s, "; ")
}

// figure draws each configuration's quantized objective against its
// full-precision one (y = x: quantization costs nothing), and the two
// winners.
func figure(out string, obj map[string][]float64, q4Full, q4Q4, fFull, fQ4 float64) error {
	p := plot.New()
	p.Title.Text = "Does quantization change which plan wins?"
	p.X.Label.Text = "objective, full-precision weights"
	p.Y.Label.Text = "objective, quantized weights"
	lo, hi := 1.0, 0.0
	for _, v := range obj {
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	diag := plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}}
	line, err := plotter.NewLine(diag)
	if err != nil {
		return err
	}
	line.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	line.Color = color.Gray{0x99}
	p.Add(line)
	for i, q := range []string{"q8_0", "q4_0"} {
		xy := make(plotter.XYs, len(obj[q]))
		for k := range xy {
			xy[k] = plotter.XY{X: obj[""][k], Y: obj[q][k]}
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		s.Color = []color.Color{color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}}[i]
		s.Shape = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}}[i]
		p.Add(s)
		p.Legend.Add(name(q), s)
	}
	w, err := plotter.NewScatter(plotter.XYs{{X: fFull, Y: q4Full}, {X: fQ4, Y: q4Q4}})
	if err != nil {
		return err
	}
	w.Shape, w.Radius, w.Color = draw.RingGlyph{}, vg.Points(7), color.Black
	p.Add(w)
	p.Legend.Add("winners (Q4_0): full-precision search's, q4_0 search's", w)
	p.Legend.Top, p.Legend.Left = true, true
	wt, err := p.WriterTo(6*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
