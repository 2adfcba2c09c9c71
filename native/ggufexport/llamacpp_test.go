package ggufexport

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/tokenizer"
)

var checkTexts = []string{
	"Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.",
	"func main() {\n\tfmt.Println(\"hello\")\n\tfor i := 0; i < 10; i++ {\n\t\tx += i\n\t}\n}",
	"Héllo wörld — naïve café, 世界 ☃ 🦙",
	"<s>Tom said</s> <unk> hi <|im_start|>user\nhi<|im_end|>",
	"<bos><start_of_turn>user\nWrite  two\n\nlines<end_of_turn>\n<start_of_turn>model\n<|user|>\n\tok<|end|>",
}

// nodeDir holds the pinned node-llama-cpp (npm ci there; .ci/run does).
var nodeDir = filepath.Join("testdata", "node")

func needNode(t *testing.T) {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errMod := os.Stat(filepath.Join(nodeDir, "node_modules", "node-llama-cpp"))
	if errNode == nil && errMod == nil {
		return
	}
	msg := "llama.cpp check needs node and `npm ci` in native/ggufexport/testdata/node"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

type nodeCase struct {
	Path  string    `json:"path"`
	Texts []string  `json:"texts"`
	Seqs  [][]int   `json:"seqs"`
	Cands [][][]int `json:"cands"`
	ours  [][][]float64
	plan  [][][]float64 // F32 only: the plan's own net (stitch), Hugging Face's semantics
}

type nodeResult struct {
	IDs  [][]int       `json:"ids"`
	LogP [][][]float64 `json:"logp"`
}

// llama.cpp itself loads every file we write: its tokenizer gives our ids,
// its log-probabilities equal ours computed from the same (stored) weights.
func TestLlamaCpp(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	var ncs []nodeCase
	var labels []string
	var toks []*tokenizer.Tokenizer
	for _, c := range cases {
		for _, typ := range allTypes {
			path, b, p := c.export(t, dir, typ)
			base := b.Family.Base()
			tok, err := tokenizer.Load(base.Dir)
			if err != nil {
				t.Fatal(err)
			}
			gf, vals, _ := readBack(t, path)
			net := netFromGGUF(t, *base.Config, vals, len(p.Slots), gf)
			nc := nodeCase{Path: path, Texts: checkTexts}
			for _, text := range checkTexts[:2] {
				seq := tok.Encode(text, true)
				if len(seq) > 40 {
					seq = seq[:40]
				}
				nc.Seqs = append(nc.Seqs, seq)
			}
			nc.Cands, nc.ours = ourLogProbs(t, net, nc.Seqs)
			if typ == gguf.F32 {
				pn, err := b.Net(p)
				if err != nil {
					t.Fatal(err)
				}
				nc.plan = logProbsOf(t, pn, nc.Seqs, nc.Cands)
			}
			ncs = append(ncs, nc)
			labels = append(labels, c.name+" "+typ.String())
			toks = append(toks, tok)
		}
	}
	in := filepath.Join(dir, "cases.json")
	raw, _ := json.Marshal(ncs)
	os.WriteFile(in, raw, 0o644)
	cmd := exec.Command("node", "check.mjs", in)
	cmd.Dir = nodeDir
	cmd.Stderr = os.Stderr
	outRaw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v", err)
	}
	var res []nodeResult
	if err := json.Unmarshal(outRaw, &res); err != nil || len(res) != len(ncs) {
		t.Fatalf("node output: %v (%d results for %d files)", err, len(res), len(ncs))
	}
	worst, sum, count := map[gguf.Type]float64{}, map[gguf.Type]float64{}, map[gguf.Type]float64{}
	for i, nc := range ncs {
		caseWorst := 0.0
		for k, text := range nc.Texts {
			want := toks[i].Encode(text, false)
			if !equalInts(res[i].IDs[k], want) {
				t.Errorf("%s: llama.cpp tokenizes %q as %v, gptailor as %v", labels[i], text, res[i].IDs[k], want)
			}
		}
		typ := allTypes[i%len(allTypes)]
		for s := range nc.Seqs {
			for pos := range nc.Seqs[s] {
				for j, lp := range res[i].LogP[s][pos] {
					d := math.Abs(lp - nc.ours[s][pos][j])
					worst[typ] = max(worst[typ], d)
					caseWorst = max(caseWorst, d)
					sum[typ] += d
					count[typ]++
					if d > tolerance[typ] {
						t.Errorf("%s: seq %d position %d token %d: llama.cpp log-prob %.6f, gptailor %.6f", labels[i], s, pos, nc.Cands[s][pos][j], lp, nc.ours[s][pos][j])
					}
				}
			}
		}
		if typ == gguf.F32 {
			// The file against the plan it came from: kinds, query scale,
			// norms and rope as Hugging Face computes the plan.
			planWorst := 0.0
			for s := range nc.Seqs {
				for pos := range nc.Seqs[s] {
					for j, lp := range res[i].LogP[s][pos] {
						planWorst = max(planWorst, math.Abs(lp-nc.plan[s][pos][j]))
					}
				}
			}
			t.Logf("%s: largest |log-prob difference| %.2e from the file's weights, %.2e from the plan's net, over %d positions", labels[i], caseWorst, planWorst, len(nc.Seqs[0])+len(nc.Seqs[1]))
			if planWorst > planTolerance {
				t.Errorf("%s: llama.cpp's log-probs differ from the plan's (stitch.Builder.Net) by %.2e, above %.0e", labels[i], planWorst, planTolerance)
			}
		}
	}
	for _, typ := range allTypes {
		mean := sum[typ] / count[typ]
		t.Logf("|log-prob difference| over all cases, %s: largest %.2e, mean %.2e", typ, worst[typ], mean)
		if mean > meanTolerance[typ] {
			t.Errorf("%s: mean |log-prob difference| %.2e above %.2e", typ, mean, meanTolerance[typ])
		}
	}
}

// tolerance on log-probabilities: 1e-3 for F32. ggml's CPU matmuls round
// the activations to the weights' dot-product type (F16, BF16; Q8_0 for
// Q8_0 and Q4_0 weights) while gptailor keeps them in float32, so the
// other types differ by that rounding of the activations (measured: see
// the test log and RATIONALE).
var tolerance = map[gguf.Type]float64{gguf.F32: 1e-3, gguf.F16: 3e-2, gguf.BF16: 0.2, gguf.Q8_0: 0.5, gguf.Q4_0: 0.5}

// planTolerance bounds llama.cpp's F32 log-probs against the plan's own
// net (weights before export, Hugging Face's semantics).
const planTolerance = 1e-3

// logProbsOf computes log-softmax of net's logits for the candidates.
func logProbsOf(t *testing.T, net *engine.Net, seqs [][]int, cands [][][]int) [][][]float64 {
	t.Helper()
	out := make([][][]float64, len(seqs))
	for s, seq := range seqs {
		var rows []engine.Row
		for pos := range seq {
			rows = append(rows, engine.Row{Seq: 0, Row: pos})
		}
		out[s] = make([][]float64, len(seq))
		err := net.Rows([]engine.Seq{{Tokens: seq}}, rows, func(i int, logits []float32) {
			mx := math.Inf(-1)
			for _, l := range logits {
				mx = max(mx, float64(l))
			}
			var sum float64
			for _, l := range logits {
				sum += math.Exp(float64(l) - mx)
			}
			lse := mx + math.Log(sum)
			for _, id := range cands[s][i] {
				out[s][i] = append(out[s][i], float64(logits[id])-lse)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// meanTolerance bounds the mean difference over every compared value.
var meanTolerance = map[gguf.Type]float64{gguf.F32: 1e-4, gguf.F16: 3e-3, gguf.BF16: 2e-2, gguf.Q8_0: 3e-2, gguf.Q4_0: 3e-2}

// ourLogProbs computes log-softmax at every position with gptailor's
// engine and picks the candidates: the next token and our top 8.
func ourLogProbs(t *testing.T, net *engine.Net, seqs [][]int) ([][][]int, [][][]float64) {
	t.Helper()
	cands := make([][][]int, len(seqs))
	ours := make([][][]float64, len(seqs))
	for s, seq := range seqs {
		var rows []engine.Row
		for pos := range seq {
			rows = append(rows, engine.Row{Seq: 0, Row: pos})
		}
		cands[s] = make([][]int, len(seq))
		ours[s] = make([][]float64, len(seq))
		err := net.Rows([]engine.Seq{{Tokens: seq}}, rows, func(i int, logits []float32) {
			mx := math.Inf(-1)
			for _, l := range logits {
				mx = max(mx, float64(l))
			}
			var sum float64
			for _, l := range logits {
				sum += math.Exp(float64(l) - mx)
			}
			lse := mx + math.Log(sum)
			idx := make([]int, len(logits))
			for k := range idx {
				idx[k] = k
			}
			sort.Slice(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
			c := append([]int(nil), idx[:8]...)
			if i+1 < len(seq) {
				c = append(c, seq[i+1])
			}
			lp := make([]float64, len(c))
			for k, id := range c {
				lp[k] = float64(logits[id]) - lse
			}
			cands[s][i], ours[s][i] = c, lp
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return cands, ours
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
