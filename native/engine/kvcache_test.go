package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// rowError is max |got − want| / max |want| over a row of logits.
func rowError(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i]-want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	return d / math.Max(m, 1e-30)
}

// fullLogits is the full forward's logits at every position of each
// sequence (positions from pos[s], 0 when nil).
func fullLogits(t *testing.T, net *Net, seqs [][]int, pos [][]int) [][][]float32 {
	t.Helper()
	in := make([]Seq, len(seqs))
	var rows []Row
	out := make([][][]float32, len(seqs))
	for s, q := range seqs {
		in[s] = Seq{Tokens: q}
		if pos != nil {
			in[s].Pos = pos[s]
		}
		out[s] = make([][]float32, len(q))
		for r := range q {
			rows = append(rows, Row{s, r})
		}
	}
	if err := net.Rows(in, rows, func(i int, l []float32) {
		out[rows[i].Seq][rows[i].Row] = append([]float32(nil), l...)
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeAll runs seqs through caches in steps — the first prefill tokens
// of each sequence in one batch, then one token of every sequence per
// step, then the rest in chunks of 3 — and returns the logits at every
// position.
func decodeAll(t *testing.T, net *Net, caches []*KVCache, seqs [][]int, prefill int) [][][]float32 {
	t.Helper()
	out := make([][][]float32, len(seqs))
	at := make([]int, len(seqs))
	step := func(n int) bool {
		var cs []*KVCache
		var toks [][]int
		var idx []int
		for s, q := range seqs {
			if at[s] < len(q) {
				k := min(n, len(q)-at[s])
				cs, toks, idx = append(cs, caches[s]), append(toks, q[at[s]:at[s]+k]), append(idx, s)
			}
		}
		if len(toks) == 0 {
			return false
		}
		if err := net.Extend(cs, toks, true, func(i, r int, l []float32) {
			s := idx[i]
			if len(out[s]) != at[s]+r {
				t.Fatalf("sequence %d: logits for row %d arrive after %d rows", s, r, len(out[s]))
			}
			out[s] = append(out[s], append([]float32(nil), l...))
		}); err != nil {
			t.Fatal(err)
		}
		for i, s := range idx {
			at[s] += len(toks[i])
		}
		return true
	}
	step(prefill)
	for i := 0; i < 6; i++ {
		step(1)
	}
	for step(3) {
	}
	return out
}

// kvTolerance is how far float32 cached logits may be from the full
// forward's: the same arithmetic in another order (measured: at most
// 2e-6) — except with --compute bf16, whose batched attention multiplies
// in bfloat16 where the cached one multiplies in float32 (measured: 0.0033
// on the demo base).
func kvTolerance() float64 {
	if kernel.ComputeBF16() {
		return 1e-2
	}
	return 1e-4
}

// kvHalfTolerance is the same with keys and values rounded to bfloat16
// (--kv bf16; 8 significant bits): measured up to 0.031 on the tiny
// random checkpoints, whose logits are small.
const kvHalfTolerance = 5e-2

// checkCached runs seqs through the full forward and through KV caches (as
// float32 and as bfloat16) and compares the logits at every position.
func checkCached(t *testing.T, net *Net, seqs [][]int, prefill int) {
	t.Helper()
	want := fullLogits(t, net, seqs, nil)
	for _, half := range []bool{false, true} {
		caches := make([]*KVCache, len(seqs))
		for s := range seqs {
			var err error
			if caches[s], err = net.NewKVCache(len(seqs[s])+2, half); err != nil {
				t.Fatal(err)
			}
		}
		got := decodeAll(t, net, caches, seqs, prefill)
		tol := kvTolerance()
		if half {
			tol = kvHalfTolerance
		}
		worst := 0.0
		for s := range seqs {
			if len(got[s]) != len(seqs[s]) || caches[s].Len() != len(seqs[s]) {
				t.Fatalf("kv bf16 %v sequence %d: %d rows of logits, cache holds %d, want %d", half, s, len(got[s]), caches[s].Len(), len(seqs[s]))
			}
			for p := range seqs[s] {
				e := rowError(got[s][p], want[s][p])
				worst = max(worst, e)
				if e > tol || math.IsNaN(e) {
					t.Fatalf("kernel %s, kv bf16 %v: sequence %d position %d: cached logits differ from the full forward's by %.3g (relative; tolerance %g)", kernel.Active(), half, s, p, e, tol)
				}
			}
		}
		t.Logf("kernel %s, kv bf16 %v: worst relative difference %.3g", kernel.Active(), half, worst)
	}
}

func randomSeqs(vocab int, lens ...int) [][]int {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([][]int, len(lens))
	for i, n := range lens {
		for j := 0; j < n; j++ {
			out[i] = append(out[i], r.IntN(vocab))
		}
	}
	return out
}

// eachKernel runs f once with every kernel this CPU runs.
func eachKernel(t *testing.T, f func(t *testing.T)) {
	prev := kernel.Active()
	defer kernel.Select(prev)
	for _, k := range kernel.Names() {
		t.Run("kernel="+k, func(t *testing.T) {
			if ok, why := kernel.Runnable(k); !ok {
				t.Skip(why)
			}
			kernel.Select(k)
			f(t)
		})
	}
}

// KV-cached decoding gives the full forward's logits at every position:
// the demo base (F32) and its BF16 sharded copy, prefilled in one batch,
// then a token per step, then chunks — one sequence alone and three of
// different lengths decoded together — with every kernel.
func TestKVCacheMatchesForwardDemo(t *testing.T) {
	for _, name := range []string{"base", "base-bf16-sharded"} {
		t.Run(name, func(t *testing.T) {
			eachKernel(t, func(t *testing.T) {
				m, err := model.Open(filepath.Join(repoData, "stories260K-"+name))
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				net, err := NewLoader().Net(m, nil)
				if err != nil {
					t.Fatal(err)
				}
				checkCached(t, net, randomSeqs(m.Config.VocabSize, 40), 9)
				checkCached(t, net, randomSeqs(m.Config.VocabSize, 30, 17, 25), 5)
			})
		})
	}
}

// The same for the architectures of TestArchitecturesAgainstReference:
// biases and an untied head (F32), llama3 RoPE scaling (F16), a sliding
// window shorter than the sequence (BF16).
func TestKVCacheMatchesForwardArchitectures(t *testing.T) {
	base := func(mt string) map[string]any {
		return map[string]any{"model_type": mt, "hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 37, "rms_norm_eps": 1e-6,
			"rope_theta": 500.0, "tie_word_embeddings": true, "max_position_embeddings": 64}
	}
	qwen := base("qwen2")
	qwen["tie_word_embeddings"] = false
	qwen["head_dim"] = 10
	llama3 := base("llama")
	llama3["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
	mistral := base("mistral")
	mistral["sliding_window"] = 5
	cases := []struct {
		name string
		cfg  map[string]any
		dt   safetensors.DType
	}{{"qwen2", qwen, safetensors.F32}, {"llama3-rope", llama3, safetensors.F16}, {"mistral-window", mistral, safetensors.BF16}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), c.name)
			writeCheckpoint(t, dir, c.cfg, c.dt, uint64(i+1))
			eachKernel(t, func(t *testing.T) {
				m, err := model.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				net, err := NewLoader().Net(m, nil)
				if err != nil {
					t.Fatal(err)
				}
				checkCached(t, net, randomSeqs(37, 20, 13), 4)
			})
		})
	}
}

// At long positions (llama3 RoPE scaling, 4,096 positions) decoding from a
// long prompt still gives the full forward's logits.
func TestKVCacheLongPositions(t *testing.T) {
	cfg := map[string]any{"model_type": "llama", "hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 37, "rms_norm_eps": 1e-6,
		"rope_theta": 500000.0, "tie_word_embeddings": true, "max_position_embeddings": 4096,
		"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 512}}
	dir := filepath.Join(t.TempDir(), "long")
	writeCheckpoint(t, dir, cfg, safetensors.F32, 9)
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	net, err := NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := randomSeqs(37, 4096)
	want := fullLogits(t, net, seq, nil)
	kc, err := net.NewKVCache(4096, false)
	if err != nil {
		t.Fatal(err)
	}
	check := func(p int, l []float32) {
		if e := rowError(l, want[0][p]); e > kvTolerance() {
			t.Fatalf("position %d: cached logits differ by %.3g (relative)", p, e)
		}
	}
	if err := net.Extend([]*KVCache{kc}, [][]int{seq[0][:4000]}, false, func(_, r int, l []float32) { check(r, l) }); err != nil {
		t.Fatal(err)
	}
	for p := 4000; p < 4096; p++ {
		if err := net.Extend([]*KVCache{kc}, [][]int{{seq[0][p]}}, false, func(_, _ int, l []float32) { check(p, l) }); err != nil {
			t.Fatal(err)
		}
	}
	// The cache is full: one more token is refused with the numbers.
	err = net.Extend([]*KVCache{kc}, [][]int{{1}}, false, func(int, int, []float32) {})
	if want := "4096 cached + 1 new tokens exceed the cache's 4096 positions"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a token past the cache: %v, want %q", err, want)
	}
	if _, err := net.NewKVCache(4097, false); err == nil || !strings.Contains(err.Error(), "4097 positions exceed the model's context of 4096") {
		t.Fatalf("a cache past the context: %v", err)
	}
}

// Greedy decoding with the cache picks, at every step, the argmax of the
// full forward over the whole sequence so far.
func TestGreedyEqualsRescoring(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		m, err := model.Open(filepath.Join(repoData, "stories260K-base"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		net, err := NewLoader().Net(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		prompt := []int{1, 403, 407, 261, 378}
		got, err := net.Greedy(prompt, 40, -1)
		if err != nil {
			t.Fatal(err)
		}
		seq := append([]int(nil), prompt...)
		for i := 0; i < 40; i++ {
			l, err := net.Logits(seq)
			if err != nil {
				t.Fatal(err)
			}
			seq = append(seq, Argmax(l))
		}
		if fmt.Sprint(got) != fmt.Sprint(seq) {
			t.Fatalf("greedy with the cache:\n%v\nre-scoring each step:\n%v", got, seq)
		}
	})
}

// Caches are checked against the net and the batch.
func TestExtendRefuses(t *testing.T) {
	net := RandomNet(SyntheticConfig(16, 24, 2, 2, 1, 11), 1)
	other := RandomNet(SyntheticConfig(16, 24, 3, 2, 1, 11), 1)
	kc, _ := net.NewKVCache(8, false)
	ko, _ := other.NewKVCache(8, false)
	for _, c := range []struct {
		caches []*KVCache
		toks   [][]int
		want   string
	}{
		{[]*KVCache{ko}, [][]int{{1}}, "a KV cache for 3 slots"},
		{[]*KVCache{kc, kc}, [][]int{{1}, {2}}, "used by another sequence"},
		{[]*KVCache{kc}, [][]int{{1}, {2}}, "1 caches for 2 sequences"},
		{[]*KVCache{kc}, [][]int{{}}, "empty"},
		{[]*KVCache{kc}, [][]int{{11}}, "outside the vocabulary"},
	} {
		err := net.Extend(c.caches, c.toks, false, func(int, int, []float32) {})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.toks, err, c.want)
		}
	}
	if kc.Len() != 0 {
		t.Fatalf("refused batches left %d positions in the cache", kc.Len())
	}
}
