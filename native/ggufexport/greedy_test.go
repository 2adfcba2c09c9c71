package ggufexport

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
	"github.com/gptailor/gptailor/native/gguf"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// greedyTokens is how many tokens each greedy continuation runs.
const greedyTokens = 32

var greedyPrompts = []string{
	"Once upon a time, there was a little girl named Lily.",
	"func main() {\n\tfmt.Println(",
	"The cat sat on the",
}

// nearTie bounds the logit gap, at a divergence, between our choice and
// llama.cpp's in our own logits: ggml rounds the activations to the
// weights' dot type (F16, BF16, Q8_0 blocks), which moves log-probs by up
// to 0.30 (TestLlamaCpp), so only a choice closer than that may flip.
const nearTie = 0.5

type greedyCase struct {
	Path    string  `json:"path"`
	Prompts [][]int `json:"prompts"`
	N       int     `json:"n"`
}

// llama.cpp's greedy continuation of the GGUF files we write equals
// gptailor's generate (temperature 0) on the same weights — for Q8_0 and
// Q4_0 the plan's quantized view, what `generate --plan P --quant` runs —
// for greedyTokens tokens; an F32 file must agree on every token, and a
// file whose dot products ggml rounds may part only at a near-tie of our
// logits (gap < nearTie), which the test measures and logs.
func TestLlamaCppGreedy(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	types := []gguf.Type{gguf.F32, gguf.Q8_0, gguf.Q4_0}
	var gcs []greedyCase
	var labels []string
	var ours [][][]int
	var nets []*engine.Net
	for _, c := range demoCases() {
		for _, typ := range types {
			path, b, p := c.export(t, dir, typ)
			tok, err := tokenizer.Load(b.Family.Base().Dir)
			if err != nil {
				t.Fatal(err)
			}
			net, err := b.Quantized(typ).Net(p)
			if err != nil {
				t.Fatal(err)
			}
			gc := greedyCase{Path: path, N: greedyTokens}
			for _, text := range greedyPrompts {
				gc.Prompts = append(gc.Prompts, tok.Encode(text, true))
			}
			g := &generate.Generator{Net: net, Tok: tok}
			res, err := g.Run(context.Background(), gc.Prompts, generate.Options{MaxTokens: greedyTokens, IgnoreEOS: true}, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, typ, err)
			}
			var conts [][]int
			for _, r := range res {
				conts = append(conts, r.Tokens)
			}
			gcs = append(gcs, gc)
			ours = append(ours, conts)
			nets = append(nets, net)
			labels = append(labels, c.name+" "+typ.String())
		}
	}
	in := filepath.Join(dir, "greedy.json")
	raw, _ := json.Marshal(gcs)
	os.WriteFile(in, raw, 0o644)
	cmd := exec.Command("node", "greedy.mjs", in)
	cmd.Dir = nodeDir
	cmd.Stderr = os.Stderr
	outRaw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node greedy.mjs: %v", err)
	}
	var theirs [][][]int
	if err := json.Unmarshal(outRaw, &theirs); err != nil || len(theirs) != len(gcs) {
		t.Fatalf("node output: %v (%d results for %d files)", err, len(theirs), len(gcs))
	}
	same, total := map[gguf.Type]int{}, map[gguf.Type]int{}
	for i, gc := range gcs {
		typ := types[i%len(types)]
		for k, prompt := range gc.Prompts {
			a, b := ours[i][k], theirs[i][k]
			if len(a) != greedyTokens || len(b) != greedyTokens {
				t.Errorf("%s prompt %d: %d tokens from gptailor, %d from llama.cpp, want %d", labels[i], k, len(a), len(b), greedyTokens)
				continue
			}
			n := 0
			for n < len(a) && a[n] == b[n] {
				n++
			}
			same[typ] += n
			total[typ] += len(a)
			if n == len(a) {
				continue
			}
			gap := logitGap(t, nets[i], append(append([]int(nil), prompt...), a[:n]...), a[n], b[n])
			t.Logf("%s prompt %d: parts after %d of %d tokens (gptailor %d, llama.cpp %d; our logit gap %.3g)", labels[i], k, n, len(a), a[n], b[n], gap)
			if typ == gguf.F32 || gap > nearTie {
				t.Errorf("%s prompt %d: greedy continuations part at token %d: gptailor %d, llama.cpp %d, our logits %.3g apart\n  gptailor  %v\n  llama.cpp %v", labels[i], k, n, a[n], b[n], gap, a, b)
			}
		}
	}
	for _, typ := range types {
		t.Logf("%s: %d of %d greedy tokens equal before any divergence (%d files × %d prompts × %d tokens)", typ, same[typ], total[typ], len(demoCases()), len(greedyPrompts), greedyTokens)
	}
}

// demoCases are the cases over the demo family (its base, merges and a
// cross-model take, sub-blocks, a repair, the BF16 shards). The synthetic
// Qwen2 and Mistral families are random: their greedy choices include the
// embedding's padding rows past the tokenizer, which generate cannot
// print (their logits are checked by TestLlamaCpp).
func demoCases() []exportCase { return cases[:5] }

// logitGap is our logit of a minus our logit of b after seq.
func logitGap(t *testing.T, net *engine.Net, seq []int, a, b int) float64 {
	t.Helper()
	var gap float64
	err := net.Rows([]engine.Seq{{Tokens: seq}}, []engine.Row{{Seq: 0, Row: len(seq) - 1}}, func(_ int, lg []float32) {
		gap = float64(lg[a]) - float64(lg[b])
	})
	if err != nil {
		t.Fatal(err)
	}
	return math.Abs(gap)
}
