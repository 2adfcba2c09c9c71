package task

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/internal/testenv"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

var repoData = filepath.Join("..", "..", "testdata")

func storiesModel(t testing.TB, name string) *Model {
	t.Helper()
	dir := filepath.Join(repoData, "stories260K-"+name)
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	net, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Model{Name: name, Net: net, Tok: tok}
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Choices whose answer the base model cannot miss, and a schema item.
func TestForcedAnswers(t *testing.T) {
	m := storiesModel(t, "base")
	p := write(t, "forced.jsonl", `{"query": "Once upon a time, there was a little girl named", "choices": ["zqxv kkj wq.", "Lily."], "gold": 1}
{"query": "Once upon a time, there", "choices": ["was", "Qz"], "gold": 0}
{"context_options": ["Zx qq vv jj kk", "Once upon a time, there was a little"], "continuation": "girl named Lily.", "gold": 1}
`)
	r, err := Run(m, &Spec{Name: "forced", Type: "multiple_choice", Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["acc"] != 1 || r.NEffective != 3 {
		t.Errorf("acc %v on forced items, samples %+v", r.Metrics, r.Samples)
	}
}

// The choice log-likelihoods agree with summed log-probs computed on the
// whole sequences through the plain engine path (no packing).
func TestChoiceLogLikelihoodsAgreeWithEval(t *testing.T) {
	m := storiesModel(t, "base")
	path := filepath.Join(testenv.Shared(), "data", "tasks", "arc_easy.jsonl")
	raw, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(t, err)
	}
	items, err := ParseMultipleChoice(raw, path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(m, &Spec{Name: "arc", Type: "multiple_choice", Path: path, Limit: 12})
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, sm := range r.Samples {
		it := items[i]
		ctx := m.Tok.Encode(it.Contexts[0], true)
		best := 0
		for c, cont := range it.Continuations {
			whole := m.Tok.Encode(it.Contexts[0]+cont, true)
			lp, err := m.Net.LogProbs([][]int{whole})
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			for k := len(ctx) - 1; k < len(whole)-1; k++ {
				want += lp[0][k]
			}
			if math.Abs(sm.LL[c]-want) > 1e-4 {
				t.Errorf("item %d choice %d: ll %.6f, summed log-probs %.6f", i, c, sm.LL[c], want)
			}
			if sm.LL[c] > sm.LL[best] {
				best = c
			}
		}
		if *sm.Pred != best {
			t.Errorf("item %d: pred %d, argmax %d", i, *sm.Pred, best)
		}
		if best == it.Gold {
			correct++
		}
	}
	if want := float64(correct) / 12; math.Abs(r.Metrics["acc"]-want) > 1e-12 {
		t.Errorf("acc %g, want %g", r.Metrics["acc"], want)
	}
	se := math.Sqrt(r.Metrics["acc"]*(1-r.Metrics["acc"])*12/11) / math.Sqrt(12)
	if math.Abs(r.Metrics["acc_stderr"]-se) > 1e-12 {
		t.Errorf("stderr %g, want %g", r.Metrics["acc_stderr"], se)
	}
}

func TestPerplexityMatchesLogProbs(t *testing.T) {
	m := storiesModel(t, "base")
	text := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
	p := write(t, "d.jsonl", `{"text": "`+text+`"}`+"\n")
	r, err := Run(m, &Spec{Name: "ppl", Type: "perplexity", Path: p, Seq: 8}) // windows overlap by one token
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Tok.Encode(text, true)
	lp, _ := m.Net.LogProbs([][]int{ids})
	var nll float64
	for _, v := range lp[0] {
		nll -= v
	}
	// With 8-token windows the context is shorter, so NLL is a bit higher,
	// but every token is predicted exactly once.
	if r.Samples[0].Tokens != len(ids)-1 || r.Samples[0].Bytes != len(text) {
		t.Errorf("tokens %d bytes %d", r.Samples[0].Tokens, r.Samples[0].Bytes)
	}
	r2, _ := Run(m, &Spec{Name: "ppl", Type: "perplexity", Path: p, Seq: 512})
	if math.Abs(r2.Samples[0].NLL-nll) > 1e-4 || r.Samples[0].NLL < nll {
		t.Errorf("nll %g (full context %g, reference %g)", r.Samples[0].NLL, r2.Samples[0].NLL, nll)
	}
	words := len(strings.Fields(text))
	if got := r2.Metrics["word_perplexity"]; math.Abs(got-math.Exp(nll/float64(words))) > 1e-6*got {
		t.Errorf("word perplexity %g", got)
	}
	if got := r2.Metrics["bits_per_byte"]; math.Abs(got-nll/float64(len(text))/math.Ln2) > 1e-9 {
		t.Errorf("bits per byte %g", got)
	}
}

func TestKLSelfIsZeroAndCached(t *testing.T) {
	t.Setenv("GPTAILOR_CACHE", t.TempDir())
	m := storiesModel(t, "math")
	spec := &Spec{Name: "kl", Type: "kl", Path: filepath.Join(repoData, "data", "math.jsonl"), Reference: filepath.Join(repoData, "stories260K-math"), Limit: 3, Seq: 64}
	r, err := Run(m, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["kl"] > 1e-5 {
		t.Errorf("KL of a model from itself = %g", r.Metrics["kl"])
	}
	files, _ := filepath.Glob(filepath.Join(os.Getenv("GPTAILOR_CACHE"), "kl", "*.bin"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	other := storiesModel(t, "base")
	r2, err := Run(other, spec) // reads the reference from the cache
	if err != nil {
		t.Fatal(err)
	}
	if r2.Metrics["kl"] < 0.1 {
		t.Errorf("KL(math || base) = %g", r2.Metrics["kl"])
	}
}

func TestSelectionAndRetention(t *testing.T) {
	s := &Spec{Limit: 5}
	if got := s.selectIdx(100); len(got) != 5 || got[4] != 4 {
		t.Errorf("first N: %v", got)
	}
	a, b := uint64(1), uint64(2)
	s1, s2 := (&Spec{Limit: 5, Seed: &a}).selectIdx(100), (&Spec{Limit: 5, Seed: &b}).selectIdx(100)
	again := (&Spec{Limit: 5, Seed: &a}).selectIdx(100)
	if len(s1) != 5 || !equal(s1, again) || equal(s1, s2) {
		t.Errorf("seeded subsets %v %v %v", s1, again, s2)
	}
	acc := func(v float64) *Result {
		return &Result{Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Metrics: map[string]float64{"acc": v}}
	}
	ppl := func(v float64) *Result {
		return &Result{Type: "perplexity", Primary: "bits_per_byte", Metrics: map[string]float64{"bits_per_byte": v}}
	}
	if Retention(acc(0.3), acc(0.6)) != 0.5 || Retention(ppl(2), ppl(1)) != 0.5 {
		t.Error("retention direction")
	}
}

func equal(a, b []int) bool {
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

func TestBadTaskFiles(t *testing.T) {
	for content, want := range map[string]string{
		`{"query": "q", "choices": ["a", "b"]}`:                "x.jsonl:1: field \"gold\" is missing",
		`{"query": "q", "choices": ["a", "b"], "gold": 2}`:     "x.jsonl:1: field \"gold\" = 2 is out of range [0, 2)",
		`{"query": "q", "choices": [], "gold": 0}`:             "field \"choices\" needs at least 2 choices",
		`{"query": "q", "choices": ["a", ""], "gold": 0}`:      "field \"choices\"[1] is empty",
		"\n{\"context_options\": [\"a\", \"b\"], \"gold\": 0}": "x.jsonl:2: field \"continuation\" is missing",
		`{"query": "q", "choices": ["a", "b"], "gold": "one"}`: "field \"gold\" has the wrong type",
		`{"query": 1, "choices": ["a", "b"], "gold": 0}`:       "field \"query\" has the wrong type",
		`not json`: "x.jsonl:1: not a JSON object",
	} {
		_, err := ParseMultipleChoice([]byte(content), "x.jsonl")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "tasks.yaml")
	os.WriteFile(list, []byte("tasks:\n  - path: x.jsonl\n    metrics: [f1]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "x.jsonl"), []byte(`{"query": "q", "choices": ["a", "b"], "gold": 0}`), 0o644)
	if _, err := ReadList(list); err == nil || !strings.Contains(err.Error(), `tasks[0].metrics: "f1" is not a metric of multiple_choice tasks`) {
		t.Errorf("unknown metric: %v", err)
	}
	os.WriteFile(list, []byte("tasks:\n  - path: x.jsonl\n    wieght: 2\n"), 0o644)
	if _, err := ReadList(list); err == nil || !strings.Contains(err.Error(), "wieght") {
		t.Errorf("unknown field: %v", err)
	}
	// Sizes and counts are checked where they enter, the field named.
	for field, want := range map[string]string{
		"seq: -5":      "tasks[0].seq -5 must be at least 2 tokens",
		"seq: 1":       "tasks[0].seq 1 must be at least 2 tokens",
		"limit: -1":    "tasks[0].limit -1 must be >= 0",
		"top_k: -64":   "tasks[0].top_k -64 must be >= 1",
		"weight: -2":   "tasks[0].weight -2 must be a finite number >= 0",
		"weight: .inf": "tasks[0].weight +Inf must be a finite number >= 0",
	} {
		os.WriteFile(list, []byte("tasks:\n  - path: x.jsonl\n    "+field+"\n"), 0o644)
		if _, err := ReadList(list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", field, err, want)
		}
	}
}

func FuzzParseTasks(f *testing.F) {
	f.Add([]byte(`{"query": "q", "choices": ["a", "b"], "gold": 1}` + "\n"))
	f.Add([]byte(`{"context_options": ["a", "b"], "continuation": "c", "gold": 0}`))
	f.Add([]byte(`{"context": "a", "continuation": "b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if items, err := ParseMultipleChoice(b, "f"); err == nil {
			for _, it := range items {
				if it.Gold < 0 || it.Gold >= it.Choices() || len(it.NormLen) != it.Choices() {
					t.Fatalf("accepted a bad item %+v", it)
				}
			}
		}
		ParseLogLikelihood(b, "f")
		Sniff(b)
	})
}

// ARC-Easy on the stories base: questions/s, scored continuation tokens/s
// and processed tokens/s (each context once, every choice as a branch).
func BenchmarkARCEasy(b *testing.B) {
	path := filepath.Join(testenv.Shared(), "data", "tasks", "arc_easy.jsonl")
	if _, err := os.Stat(path); err != nil {
		testenv.Missing(b, err)
	}
	m := storiesModel(b, "base")
	spec := &Spec{Name: "arc_easy", Type: "multiple_choice", Path: path, Limit: 500}
	var items, cont int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Run(m, spec)
		if err != nil {
			b.Fatal(err)
		}
		items += r.NEffective
		for _, s := range r.Samples {
			cont += s.Tokens
		}
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(cont)/b.Elapsed().Seconds(), "ll-tokens/s")
}

// A reference of 0 has nothing to keep: retention 1 (issue 22 item 3).
func TestRetentionAgainstZero(t *testing.T) {
	acc := func(v float64) *Result {
		return &Result{Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Metrics: map[string]float64{"acc": v}}
	}
	bpb := func(v float64) *Result {
		return &Result{Type: "perplexity", Primary: "bits_per_byte", Metrics: map[string]float64{"bits_per_byte": v}}
	}
	if Retention(acc(0), acc(0)) != 1 || Retention(acc(0.6), acc(0)) != 1 || Retention(bpb(0), bpb(0)) != 1 {
		t.Errorf("zero references: %v %v %v", Retention(acc(0), acc(0)), Retention(acc(0.6), acc(0)), Retention(bpb(0), bpb(0)))
	}
	if !math.IsNaN(Retention(acc(math.NaN()), acc(0))) {
		t.Error("a NaN candidate against 0 is not NaN")
	}
	if !ZeroReference(acc(0)) || ZeroReference(acc(0.1)) || ZeroReference(bpb(0)) {
		t.Error("ZeroReference")
	}
}
