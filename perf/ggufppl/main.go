// Command ggufppl compares llama.cpp's perplexity on the GGUF files
// `gptailor build --format gguf` writes with gptailor's own evaluation of
// the plan, per stored type (RATIONALE "Quantization-aware search"): the
// demo base and a plan with merges and a cross-model take are exported at
// F32, F16, BF16, Q8_0 and Q4_0; llama.cpp (node-llama-cpp's prebuilt
// binaries, native/ggufexport/testdata/node/check.mjs, `npm ci` there
// first) scores held-out windows with an F32 KV cache; gptailor scores the
// same windows with the weights the file stores (eval --quant for Q8_0 and
// Q4_0; full precision for F32, and for F16/BF16, whose rounding eval does
// not model). It prints a table and draws the figure with gonum/plot.
//
//	go run ./perf/ggufppl -out docs/gguf-perplexity.svg
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/ggufexport"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

var plans = []struct{ name, doc string }{
	{"demo base", `{"slots":[{"take":["base",0]},{"take":["base",1]},{"take":["base",2]},{"take":["base",3]},{"take":["base",4]}]}`},
	{"merged plan", `{"slots":[{"take":["base",0]},{"merge":{"method":"task_arithmetic","layer":1,"models":["code","math"],"lambda":0.5}},{"take":["code",2]},{"merge":{"method":"ties","layer":4,"models":["docs","math"],"density":0.5,"lambda":1.0}}]}`},
}

var types = []gguf.Type{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0, gguf.Q4_0}

type nodeCase struct {
	Path  string    `json:"path"`
	Texts []string  `json:"texts"`
	Seqs  [][]int   `json:"seqs"`
	Cands [][][]int `json:"cands"`
}

type nodeResult struct {
	LogP [][][]float64 `json:"logp"`
}

func main() {
	repo := flag.String("repo", ".", "the repository (testdata/, native/ggufexport/testdata/node)")
	data := flag.String("data", "testdata/heldout/stories.jsonl", "held-out text")
	nWin := flag.Int("windows", 24, "windows of -seq tokens scored")
	seq := flag.Int("seq", 128, "window length")
	out := flag.String("out", "docs/gguf-perplexity.svg", "the figure")
	flag.Parse()
	if err := run(*repo, *data, *nWin, *seq, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ggufppl:", err)
		os.Exit(1)
	}
}

func run(repo, data string, nWin, seq int, out string) error {
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(repo, "testdata", "stories260K-"+a)})
	}
	f, err := model.OpenFamily(ms)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		return err
	}
	docs, err := corpus.Read(filepath.Join(repo, data))
	if err != nil {
		return err
	}
	var streams [][]int
	for _, d := range docs {
		streams = append(streams, tok.Encode(d.Text, true))
	}
	windows, err := corpus.Windows(streams, seq)
	if err != nil {
		return err
	}
	windows = windows[:min(nWin, len(windows))]
	tmp, err := os.MkdirTemp("", "ggufppl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := stitch.New(f, -1)
	type row struct {
		plan, typ    string
		mb           float64
		llama, ours  float64 // perplexities
		oursQuantize bool
	}
	var rows []row
	var ncs []nodeCase
	for _, pc := range plans {
		p, err := plan.Parse([]byte(pc.doc))
		if err != nil {
			return err
		}
		for _, t := range types {
			path := filepath.Join(tmp, fmt.Sprintf("%s-%s.gguf", pc.name, t))
			res, err := ggufexport.Export(b, p, ggufexport.Options{Out: path, Type: t})
			if err != nil {
				return err
			}
			net, err := b.Quantized(t).Net(p)
			if err != nil {
				return err
			}
			lps, err := net.ScoreWindows(windows, nil)
			if err != nil {
				return err
			}
			var sum float64
			n := 0
			for _, lp := range lps {
				for _, v := range lp {
					sum -= v
					n++
				}
			}
			rows = append(rows, row{plan: pc.name, typ: t.String(), mb: float64(res.Bytes) / 1e6, ours: math.Exp(sum / float64(n)), oursQuantize: t.Quantized()})
			nc := nodeCase{Path: path, Texts: []string{}}
			for _, w := range windows {
				c := make([][]int, len(w))
				for i := range w {
					next := 0
					if i+1 < len(w) {
						next = w[i+1]
					}
					c[i] = []int{next}
				}
				nc.Seqs, nc.Cands = append(nc.Seqs, w), append(nc.Cands, c)
			}
			ncs = append(ncs, nc)
		}
	}
	in := filepath.Join(tmp, "cases.json")
	raw, _ := json.Marshal(ncs)
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("node", "check.mjs", in)
	cmd.Dir = filepath.Join(repo, "native", "ggufexport", "testdata", "node")
	cmd.Stderr = os.Stderr
	outRaw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("node check.mjs: %w", err)
	}
	var res []nodeResult
	if err := json.Unmarshal(outRaw, &res); err != nil || len(res) != len(rows) {
		return fmt.Errorf("node output: %v (%d results for %d files)", err, len(res), len(rows))
	}
	for i := range rows {
		var sum float64
		n := 0
		for _, w := range res[i].LogP {
			for _, lp := range w[:len(w)-1] { // the last position has no next token
				sum -= lp[0]
				n++
			}
		}
		rows[i].llama = math.Exp(sum / float64(n))
	}
	fmt.Printf("%d windows of %d tokens of %s\n\n| plan | type | file MB | llama.cpp perplexity | gptailor eval perplexity | difference |\n|---|---|---|---|---|---|\n", len(windows), seq, data)
	for _, r := range rows {
		how := ""
		if !r.oursQuantize && r.typ != "f32" {
			how = " (full precision)"
		}
		fmt.Printf("| %s | %s | %.3f | %.4f | %.4f%s | %+.2f%% |\n", r.plan, r.typ, r.mb, r.llama, r.ours, how, 100*(r.llama/r.ours-1))
	}
	// The figure: perplexity per type, llama.cpp's and gptailor's, per plan.
	p := plot.New()
	p.Title.Text = "Perplexity of the exported GGUF: llama.cpp vs gptailor eval"
	p.Y.Label.Text = fmt.Sprintf("perplexity (%d held-out windows)", len(windows))
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.String()
	}
	p.NominalX(names...)
	w := vg.Points(10)
	colors := []color.Color{color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xae, 0xc7, 0xe8, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0xff, 0x98, 0x96, 0xff}}
	k := 0
	lo := math.Inf(1)
	for _, r := range rows {
		lo = min(lo, r.llama, r.ours)
	}
	for pi, pc := range plans {
		for si, src := range []string{"llama.cpp", "gptailor"} {
			vals := make(plotter.Values, len(types))
			for ti := range types {
				r := rows[pi*len(types)+ti]
				vals[ti] = r.ours
				if si == 0 {
					vals[ti] = r.llama
				}
			}
			bars, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return err
			}
			bars.Color, bars.LineStyle.Width = colors[k], 0
			bars.Offset = w * vg.Length(float64(k)-1.5)
			p.Add(bars)
			p.Legend.Add(pc.name+", "+src, bars)
			k++
		}
	}
	p.Y.Min = math.Floor(lo*0.9*10) / 10
	p.Legend.Top = true
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
