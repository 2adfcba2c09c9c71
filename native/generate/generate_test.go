package generate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gptailor/gptailor/internal/testenv"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

func demoDir(name string) string {
	return filepath.Join(testenv.Repo(), "testdata", "stories260K-"+name)
}

func demo(t testing.TB) *Generator {
	t.Helper()
	m, err := model.Open(demoDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	net, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(demoDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	return &Generator{Net: net, Tok: tok}
}

// Text whose characters span several byte-fallback tokens streams without
// a broken character, and the pieces add up to the decoded whole (the
// first token's leading space included).
func TestStreamByteFallback(t *testing.T) {
	tok, err := tokenizer.Load(demoDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode("Once upon", true)
	text := " a café in 日本 said “hi” 🙂 and left."
	ids := tok.Encode("Once upon"+text, true)[len(prompt):]
	bytesTokens := 0
	for _, id := range ids {
		if s, _ := tok.Token(id); strings.HasPrefix(s, "<0x") {
			bytesTokens++
		}
	}
	if bytesTokens < 8 {
		t.Fatalf("only %d byte-fallback tokens: the test text does not exercise them", bytesTokens)
	}
	s, err := newStream(tok, prompt, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, id := range ids {
		piece, stopped, err := s.add(id)
		if err != nil || stopped {
			t.Fatal(err, stopped)
		}
		if !utf8.ValidString(piece) || strings.ContainsRune(piece, utf8.RuneError) {
			t.Fatalf("printed a broken character: %q", piece)
		}
		got.WriteString(piece)
	}
	got.WriteString(s.finish())
	whole, _ := tok.Decode(append(append([]int{}, prompt...), ids...))
	head, _ := tok.Decode(prompt)
	if got.String() != text || whole[len(head):] != text || s.final() != text {
		t.Fatalf("streamed %q, final %q, decoded whole %q, want %q", got.String(), s.final(), whole[len(head):], text)
	}
}

// A stop string split over tokens ends the text before it; nothing of it
// is ever printed; the tokens kept are those of the text before it.
func TestStreamStopAcrossTokens(t *testing.T) {
	tok, err := tokenizer.Load(demoDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode("Once", true)
	ids := tok.Encode("Once upon a time there was a little dog. It was happy.", true)[len(prompt):]
	for _, c := range []struct {
		stops []string
		want  string
	}{
		{[]string{"e was a"}, " upon a time ther"},
		{[]string{"zzz", ". It"}, " upon a time there was a little dog"},
		{[]string{"dog", "ime"}, " upon a t"},
		{[]string{" upon"}, ""},
		{[]string{"nowhere"}, " upon a time there was a little dog. It was happy."},
	} {
		s, _ := newStream(tok, prompt, c.stops)
		var got strings.Builder
		stopped := false
		for _, id := range ids {
			piece, st, err := s.add(id)
			if err != nil {
				t.Fatal(err)
			}
			got.WriteString(piece)
			if st {
				stopped = true
				break
			}
		}
		got.WriteString(s.finish())
		if got.String() != c.want || s.final() != c.want || stopped != (c.stops[0] != "nowhere") {
			t.Fatalf("stops %q: streamed %q, final %q (stopped %v), want %q", c.stops, got.String(), s.final(), stopped, c.want)
		}
		kept := s.ids[len(s.ctx) : len(s.ctx)+s.keptTokens()]
		full, _ := tok.Decode(append(append([]int{}, prompt...), kept...))
		head, _ := tok.Decode(prompt)
		if k := full[len(head):]; !strings.HasPrefix(c.want, k) || (stopped && len(kept) > 0 && len(c.want)-len(k) > 12) {
			t.Fatalf("stops %q: kept tokens decode to %q, want a prefix of %q", c.stops, k, c.want)
		}
	}
}

// Greedy Run of a batch: each sequence's tokens are the net's greedy
// continuation alone, EOS ends a sequence, MaxTokens another; the streamed
// pieces add up to each text.
func TestRunGreedyBatch(t *testing.T) {
	g := demo(t)
	texts := []string{"Once upon a time", "The cat", "Lily and Ben went to the park. They"}
	var prompts [][]int
	for _, s := range texts {
		prompts = append(prompts, g.Tok.Encode(s, true))
	}
	streamed := make([]strings.Builder, len(prompts))
	o := Options{MaxTokens: 60, EOS: []int{g.Tok.EOS}}
	res, err := g.Run(context.Background(), prompts, o, func(i int, s string) { streamed[i].WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		want, err := g.Net.Greedy(p, o.MaxTokens, g.Tok.EOS)
		if err != nil {
			t.Fatal(err)
		}
		gen := want[len(p):]
		r := res[i]
		if fmt.Sprint(r.Tokens) != fmt.Sprint(gen) {
			t.Fatalf("prompt %d: batched run %v, greedy alone %v", i, r.Tokens, gen)
		}
		wantReason := FinishLength
		if len(gen) < o.MaxTokens {
			wantReason = FinishEOS
		}
		whole, _ := g.Tok.Decode(want)
		head, _ := g.Tok.Decode(p)
		if r.FinishReason != wantReason || r.Text != whole[len(head):] || streamed[i].String() != r.Text || r.PromptTokens != len(p) {
			t.Fatalf("prompt %d: finish %s (want %s), text %q, streamed %q, want %q", i, r.FinishReason, wantReason, r.Text, streamed[i].String(), whole[len(head):])
		}
		t.Logf("%q → %q (%s)", texts[i], r.Text, r.FinishReason)
	}
	// An EOS id ends the sequence before it; several ids may end it.
	gen := res[0].Tokens
	stop := gen[7]
	k := 0
	for gen[k] != stop {
		k++
	}
	o.EOS = []int{g.Tok.EOS, stop}
	r, err := g.Run(context.Background(), prompts[:1], o, nil)
	if err != nil || r[0].FinishReason != FinishEOS || fmt.Sprint(r[0].Tokens) != fmt.Sprint(gen[:k]) {
		t.Fatalf("EOS %d: %v %+v, want tokens %v", stop, err, r, gen[:k])
	}
	o.IgnoreEOS = true
	if r, _ := g.Run(context.Background(), prompts[:1], o, nil); fmt.Sprint(r[0].Tokens) != fmt.Sprint(gen) {
		t.Fatalf("--ignore-eos: %v, want %v", r[0].Tokens, gen)
	}
}

// Sampling with a seed: the same seed gives the same texts, with the KV
// cache in float32 or bfloat16 alike when greedy; another seed differs.
func TestRunSeeds(t *testing.T) {
	g := demo(t)
	prompts := [][]int{g.Tok.Encode("Once upon a time", true), g.Tok.Encode("Once upon a time", true)}
	run := func(o Options) []string {
		res, err := g.Run(context.Background(), prompts, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return []string{res[0].Text, res[1].Text}
	}
	o := Options{MaxTokens: 40, IgnoreEOS: true, Sampling: Sampling{Temperature: 1, TopP: 0.95, Seed: 42}}
	a, b := run(o), run(o)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed: %q vs %q", a, b)
	}
	// The same seed draws the same text with every float32 kernel (weights
	// packed for each). --compute bf16 is other arithmetic: its logits move
	// by ~1e-3 and a draw near a boundary goes the other way, so its texts
	// part from the float32 ones after a few tokens; it repeats its own.
	prev := kernel.Active()
	defer kernel.Select(prev)
	for _, k := range kernel.Names() {
		if ok, _ := kernel.Runnable(k); !ok {
			continue
		}
		kernel.Select(k)
		gk := demo(t)
		run2 := func(g *Generator) []string {
			res, err := g.Run(context.Background(), prompts, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			return []string{res[0].Text, res[1].Text}
		}
		res, err := gk.Run(context.Background(), prompts, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := a
		if kernel.ComputeBF16() {
			want = run2(gk)
		}
		if res[0].Text != want[0] || res[1].Text != want[1] {
			t.Errorf("kernel %s, seed 42: %q, want %q", k, []string{res[0].Text, res[1].Text}, want)
		}
	}
	kernel.Select(prev)
	if a[0] == a[1] {
		t.Fatalf("two sequences of one batch drew the same text %q", a[0])
	}
	o.Seed = 43
	if c := run(o); c[0] == a[0] {
		t.Fatalf("seeds 42 and 43 drew the same text %q", a[0])
	}
	greedy := Options{MaxTokens: 40, IgnoreEOS: true}
	half := greedy
	half.KVBF16 = true
	if x, y := run(greedy), run(half); fmt.Sprint(x) != fmt.Sprint(y) {
		t.Logf("greedy with a bfloat16 cache differs: %q vs %q", x, y)
	}
}

// A prompt that does not fit is refused with both numbers, or cut from the
// left when asked; an empty prompt is refused; a cancelled run returns
// what it has.
func TestRunRefusesAndCancels(t *testing.T) {
	g := demo(t)
	long := make([]int, 500)
	for i := range long {
		long[i] = 300 + i%100
	}
	_, err := g.Run(context.Background(), [][]int{long}, Options{MaxTokens: 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "500 prompt tokens + --max-tokens 20 = 520 exceed the model's context of 512 tokens") {
		t.Fatalf("over the context: %v", err)
	}
	res, err := g.Run(context.Background(), [][]int{long}, Options{MaxTokens: 20, TruncateLeft: true, IgnoreEOS: true}, nil)
	if err != nil || res[0].PromptTokens != 492 || len(res[0].Tokens) != 20 {
		t.Fatalf("cut from the left: %v, %+v", err, res)
	}
	if _, err := g.Run(context.Background(), [][]int{{1}, {}}, Options{MaxTokens: 2}, nil); err == nil || !strings.Contains(err.Error(), "prompt 2 is empty") {
		t.Fatalf("empty prompt: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err = g.Run(ctx, [][]int{g.Tok.Encode("Once", true)}, Options{MaxTokens: 100, IgnoreEOS: true}, func(int, string) {
		if n++; n == 5 {
			cancel()
		}
	})
	if err != context.Canceled || res[0].FinishReason != FinishCancelled || len(res[0].Tokens) == 0 || len(res[0].Tokens) >= 100 {
		t.Fatalf("cancelled: %v, %+v", err, res)
	}
}

// EOS ids: generation_config.json's (one or several), else config.json's,
// else the tokenizer's.
func TestEOSIDs(t *testing.T) {
	dir := t.TempDir()
	tok, _ := tokenizer.Load(demoDir("base"))
	cfg := &model.Config{EOSTokenID: float64(7)}
	check := func(want string) {
		t.Helper()
		ids, err := EOSIDs(dir, cfg, tok)
		if err != nil || fmt.Sprint(ids) != want {
			t.Fatalf("%v %v, want %s", ids, err, want)
		}
	}
	check("[7]")
	cfg.EOSTokenID = nil
	check(fmt.Sprint([]int{tok.EOS}))
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": [128001, 128008, 128009]}`), 0o644)
	check("[128001 128008 128009]")
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": "x"}`), 0o644)
	if _, err := EOSIDs(dir, cfg, tok); err == nil || !strings.Contains(err.Error(), "generation_config.json: eos_token_id x is not a token id") {
		t.Fatalf("bad eos_token_id: %v", err)
	}
}
