package stitch

import (
	"fmt"
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/shared/plan"
)

// refBlock is one sub-block's tensors for the reference (nil: skipped).
type refBlock map[string][]float64

// readBlock reads the attention or MLP tensors of layer l of m in float64.
func readBlock(t *testing.T, m *model.Model, l int, attn bool) refBlock {
	t.Helper()
	names := map[string]string{"norm": "post_attention_layernorm", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
	if attn {
		names = map[string]string{"norm": "input_layernorm", "q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj"}
	}
	b := refBlock{}
	for k, n := range names {
		v, err := m.Tensors.ReadFloat32(fmt.Sprintf("model.layers.%d.%s.weight", l, n))
		if err != nil {
			t.Fatal(err)
		}
		b[k] = make([]float64, len(v))
		for i, x := range v {
			b[k][i] = float64(x)
		}
	}
	return b
}

// referenceLogProbs is a plain float64 transcription of the Hugging Face
// Llama forward pass (RMSNorm, rotate-half RoPE, grouped-query causal
// attention, SwiGLU), written for this test from the model's definition,
// with each layer's attention and MLP given separately.
func referenceLogProbs(cfg *model.Config, embed, norm []float64, attn, mlp []refBlock, seq []int) []float64 {
	d, H, KV, hd, I := cfg.HiddenSize, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim, cfg.IntermediateSize
	T := len(seq)
	rms := func(x, w []float64) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(d)+cfg.RMSNormEps)
		y := make([]float64, d)
		for i := range x {
			y[i] = w[i] * x[i] * inv
		}
		return y
	}
	matvec := func(W, x []float64, rows int) []float64 {
		cols := len(x)
		y := make([]float64, rows)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				y[r] += W[r*cols+c] * x[c]
			}
		}
		return y
	}
	rope := func(v []float64, pos int) {
		for i := 0; i < hd/2; i++ {
			f := 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(hd))
			c, s := math.Cos(float64(pos)*f), math.Sin(float64(pos)*f)
			a, b := v[i], v[i+hd/2]
			v[i], v[i+hd/2] = a*c-b*s, a*s+b*c
		}
	}
	x := make([][]float64, T)
	for t, tok := range seq {
		x[t] = append([]float64(nil), embed[tok*d:(tok+1)*d]...)
	}
	for l := range attn {
		if a := attn[l]; a != nil {
			q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
			for t := range x {
				h := rms(x[t], a["norm"])
				q[t], k[t], v[t] = matvec(a["q"], h, H*hd), matvec(a["k"], h, KV*hd), matvec(a["v"], h, KV*hd)
				for hh := 0; hh < H; hh++ {
					rope(q[t][hh*hd:(hh+1)*hd], t)
				}
				for hh := 0; hh < KV; hh++ {
					rope(k[t][hh*hd:(hh+1)*hd], t)
				}
			}
			for t := range x {
				out := make([]float64, H*hd)
				for hh := 0; hh < H; hh++ {
					g := hh / (H / KV)
					sc := make([]float64, t+1)
					mx := math.Inf(-1)
					for u := 0; u <= t; u++ {
						for i := 0; i < hd; i++ {
							sc[u] += q[t][hh*hd+i] * k[u][g*hd+i]
						}
						sc[u] /= math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[u])
					}
					z := 0.0
					for u := range sc {
						sc[u] = math.Exp(sc[u] - mx)
						z += sc[u]
					}
					for u := range sc {
						for i := 0; i < hd; i++ {
							out[hh*hd+i] += sc[u] / z * v[u][g*hd+i]
						}
					}
				}
				o := matvec(a["o"], out, d)
				for i := range o {
					x[t][i] += o[i]
				}
			}
		}
		if m := mlp[l]; m != nil {
			for t := range x {
				h := rms(x[t], m["norm"])
				g, u := matvec(m["gate"], h, I), matvec(m["up"], h, I)
				for i := range g {
					g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
				}
				o := matvec(m["down"], g, d)
				for i := range o {
					x[t][i] += o[i]
				}
			}
		}
	}
	lp := make([]float64, T-1)
	for t := 0; t < T-1; t++ {
		h := rms(x[t], norm)
		logits := matvec(embed, h, cfg.VocabSize) // tied embeddings
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		z := 0.0
		for _, v := range logits {
			z += math.Exp(v - mx)
		}
		lp[t] = logits[seq[t+1]] - mx - math.Log(z)
	}
	return lp
}

// A plan mixing attention from one fine-tune with the MLP of another, and
// skipping sub-blocks, runs what the float64 reference computes.
func TestSubBlockPlanMatchesReference(t *testing.T) {
	f := openStories(t)
	defer f.Close()
	get := func(a string) *model.Model { m, _ := f.Model(a); return m }
	p, err := plan.Parse([]byte(`{"slots":[
		{"take":["code",0],"mlp":["math",0]},
		{"take":["base",1],"attn":"none"},
		{"take":["docs",2],"mlp":"none"},
		{"take":["math",4],"mlp":["code",3]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	net, err := New(f, -1).Net(p)
	if err != nil {
		t.Fatal(err)
	}
	seq := []int{1, 403, 407, 261, 378, 285, 40, 269, 29, 371, 43, 262, 300, 46, 2, 1, 87, 99}
	got, err := net.LogProbs([][]int{seq})
	if err != nil {
		t.Fatal(err)
	}
	attn := []refBlock{readBlock(t, get("code"), 0, true), nil, readBlock(t, get("docs"), 2, true), readBlock(t, get("math"), 4, true)}
	mlp := []refBlock{readBlock(t, get("math"), 0, false), readBlock(t, get("base"), 1, false), nil, readBlock(t, get("code"), 3, false)}
	base := get("base")
	e32, _ := base.Tensors.ReadFloat32("model.embed_tokens.weight")
	n32, _ := base.Tensors.ReadFloat32("model.norm.weight")
	embed, norm := make([]float64, len(e32)), make([]float64, len(n32))
	for i, v := range e32 {
		embed[i] = float64(v)
	}
	for i, v := range n32 {
		norm[i] = float64(v)
	}
	want := referenceLogProbs(base.Config, embed, norm, attn, mlp, seq)
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(got[0][i]-want[i]))
	}
	t.Logf("sub-block plan vs float64 reference: max |Δ log p| = %.2g over %d tokens", worst, len(want))
	if worst > 2e-4 {
		t.Errorf("max |Δ log p| = %.3g, want ≤ 2e-4", worst)
	}
	// The whole-layer plan differs: the sub-blocks matter.
	whole, _ := plan.Parse([]byte(`{"slots":[{"take":["code",0]},{"take":["base",1]},{"take":["docs",2]},{"take":["math",4]}]}`))
	wn, err := New(f, -1).Net(whole)
	if err != nil {
		t.Fatal(err)
	}
	wl, _ := wn.LogProbs([][]int{seq})
	if math.Abs(wl[0][5]-got[0][5]) < 1e-3 {
		t.Errorf("whole layers and sub-blocks give the same log-prob %.5f", got[0][5])
	}
}
