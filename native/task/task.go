package task

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// Model is what a task runs on: a net (a model or a plan) and its tokenizer.
type Model struct {
	Name string
	Net  *engine.Net
	Tok  *tokenizer.Tokenizer
	Ctx  context.Context // when done, a run stops before its next batch (nil: never)
}

// Spec is one task of a task list.
type Spec struct {
	Name      string   `json:"name" yaml:"name"`
	Type      string   `json:"type,omitempty" yaml:"type"` // perplexity, multiple_choice, loglikelihood, kl ("" = from the file)
	Path      string   `json:"path" yaml:"path"`
	Weight    float64  `json:"weight,omitempty" yaml:"weight"`       // default 1
	Limit     int      `json:"limit,omitempty" yaml:"limit"`         // samples used (0: all)
	Seed      *uint64  `json:"seed,omitempty" yaml:"seed"`           // with limit: a seeded random subset instead of the first N
	Seq       int      `json:"seq,omitempty" yaml:"seq"`             // window for perplexity and kl (default 256)
	Reference string   `json:"reference,omitempty" yaml:"reference"` // kl: the reference model directory
	TopK      int      `json:"top_k,omitempty" yaml:"top_k"`         // kl: reference log-probs kept per token (default 64)
	Metrics   []string `json:"metrics,omitempty" yaml:"metrics"`     // restrict to these metrics (checked)
	// Windows makes a perplexity task's samples the consecutive windows of
	// seq tokens over the concatenated documents (as `eval --data` cuts
	// them) instead of whole documents: a fine-grained fidelity for search.
	Windows bool `json:"windows,omitempty" yaml:"windows"`
	// From skips the first From selected samples: they were evaluated
	// before (budget reuse; see Merge). Not part of task files.
	From int `json:"-" yaml:"-"`
}

// List is a task list file.
type List struct {
	Tasks []Spec `json:"tasks" yaml:"tasks"`
}

// Types lists the task types, in one place.
var Types = map[string]func(m *Model, s *Spec) (*Result, error){
	"perplexity":      runPerplexity,
	"multiple_choice": runMultipleChoice,
	"loglikelihood":   runLogLikelihood,
	"kl":              runKL,
}

// metricsOf lists each type's metrics and whether higher is better.
var metricsOf = map[string]map[string]bool{
	"perplexity":      {"nll": false, "token_perplexity": false, "word_perplexity": false, "byte_perplexity": false, "bits_per_byte": false},
	"multiple_choice": {"acc": true, "acc_norm": true},
	"loglikelihood":   {"acc": true, "perplexity": false},
	"kl":              {"kl": false},
}

// primary is the metric retention and objectives use, per type.
var primary = map[string]string{"perplexity": "bits_per_byte", "multiple_choice": "acc", "loglikelihood": "acc", "kl": "kl"}

// ReadList reads a task list (YAML or JSON: JSON is YAML) or, for a .jsonl
// file, the single task it holds, named after the file.
func ReadList(path string) (*List, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".jsonl") {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		return &List{Tasks: []Spec{{Name: name, Path: path, Type: Sniff(raw)}}}, nil
	}
	var l List
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(l.Tasks) == 0 {
		return nil, fmt.Errorf("%s: field tasks is empty", path)
	}
	dir := filepath.Dir(path)
	seen := map[string]bool{}
	for i := range l.Tasks {
		s := &l.Tasks[i]
		p := fmt.Sprintf("%s: tasks[%d]", path, i)
		if s.Path == "" {
			return nil, fmt.Errorf("%s.path is missing", p)
		}
		if !filepath.IsAbs(s.Path) {
			if _, err := os.Stat(s.Path); err != nil {
				s.Path = filepath.Join(dir, s.Path) // relative to the list file
			}
		}
		if s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%s.name %q is used twice", p, s.Name)
		}
		seen[s.Name] = true
		if s.Type == "" {
			b, err := os.ReadFile(s.Path)
			if err != nil {
				return nil, fmt.Errorf("%s.path: %v", p, err)
			}
			s.Type = Sniff(b)
		}
		if _, ok := Types[s.Type]; !ok {
			return nil, fmt.Errorf("%s.type %q is not a task type (perplexity, multiple_choice, loglikelihood, kl)", p, s.Type)
		}
		if s.Weight < 0 || math.IsNaN(s.Weight) || math.IsInf(s.Weight, 0) {
			return nil, fmt.Errorf("%s.weight %g must be a finite number >= 0", p, s.Weight)
		}
		switch {
		case s.Limit < 0:
			return nil, fmt.Errorf("%s.limit %d must be >= 0 (0: every sample)", p, s.Limit)
		case s.Seq < 0 || s.Seq == 1:
			return nil, fmt.Errorf("%s.seq %d must be at least 2 tokens (0: the default 256)", p, s.Seq)
		case s.TopK < 0:
			return nil, fmt.Errorf("%s.top_k %d must be >= 1 (0: the default 64)", p, s.TopK)
		}
		for _, m := range s.Metrics {
			if _, ok := metricsOf[s.Type][m]; !ok {
				return nil, fmt.Errorf("%s.metrics: %q is not a metric of %s tasks (%v)", p, m, s.Type, keys(metricsOf[s.Type]))
			}
		}
		if s.Type == "kl" && s.Reference == "" {
			return nil, fmt.Errorf("%s.reference: a kl task needs a reference model directory", p)
		}
	}
	return &l, nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WeightOf is a spec's weight (default 1).
func (s *Spec) WeightOf() float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

// selectIdx returns the indices of the samples to use: all, the first
// Limit, or a seeded random subset of Limit (in original order).
func (s *Spec) selectIdx(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if s.Limit <= 0 || s.Limit >= n {
		return idx[min(s.From, len(idx)):]
	}
	if s.Seed == nil {
		return idx[min(s.From, s.Limit):s.Limit]
	}
	r := rand.New(rand.NewPCG(*s.Seed, 0x9e3779b97f4a7c15))
	r.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	sub := idx[:s.Limit]
	sort.Ints(sub)
	return sub[min(s.From, len(sub)):]
}

// Sample is one sample's values, for user scorers.
type Sample struct {
	Index   int       `json:"index"`             // line (1-based) or document number
	LL      []float64 `json:"ll,omitempty"`      // log-likelihood of each choice (or of the continuation)
	Gold    *int      `json:"gold,omitempty"`    // the right choice
	Pred    *int      `json:"pred,omitempty"`    // argmax of ll
	Correct *bool     `json:"correct,omitempty"` // pred == gold, or the greedy continuation matched
	// CorrectNorm: the length-normalised prediction is gold (acc_norm).
	CorrectNorm *bool   `json:"correct_norm,omitempty"`
	Words       int     `json:"words,omitempty"` // words of the document (whole-document perplexity)
	Tokens      int     `json:"tokens"`          // tokens scored
	Bytes       int     `json:"bytes,omitempty"` // bytes of text scored (perplexity)
	NLL         float64 `json:"nll,omitempty"`   // summed negative log-likelihood (perplexity, kl: summed KL)
}

// Result is one task's outcome.
type Result struct {
	Name           string             `json:"name"`
	Type           string             `json:"type"`
	Metrics        map[string]float64 `json:"metrics"` // name -> value; "<name>_stderr" alongside when defined
	Primary        string             `json:"primary"`
	HigherIsBetter bool               `json:"higher_is_better"`
	Weight         float64            `json:"weight"`
	NOriginal      int                `json:"n_original"`
	NEffective     int                `json:"n_effective"`
	Seconds        float64            `json:"seconds"`
	Samples        []Sample           `json:"samples,omitempty"`
}

// Run evaluates one task.
func Run(m *Model, s *Spec) (*Result, error) {
	f, ok := Types[s.Type]
	if !ok {
		return nil, fmt.Errorf("task %s: unknown type %q", s.Name, s.Type)
	}
	start := time.Now()
	r, err := f(m, s)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", s.Name, err)
	}
	return finish(r, s, start), nil
}

// Retention is candidate against reference on the primary metric: c/r for
// higher-is-better metrics, r/c for lower-is-better ones, and exp(r−c) for
// KL (whose reference value is 0).
//
// A reference of 0 on a higher-is-better metric (a multiple-choice task
// the base gets wrong on every sample, likely with 4 choices at 3 samples)
// has nothing to keep: retention is then 1 whatever the candidate scores,
// so the task neither costs nor credits any candidate (ZeroReference says
// when; reports name such tasks). Likewise a lower-is-better metric at 0
// for both is 1. A NaN metric stays NaN.
func Retention(c, r *Result) float64 {
	cv, rv := c.Metrics[c.Primary], r.Metrics[r.Primary]
	switch {
	case c.Type == "kl":
		return math.Exp(rv - cv)
	case c.HigherIsBetter:
		if rv == 0 && !math.IsNaN(cv) {
			return 1
		}
		return cv / rv
	}
	if cv == 0 && rv == 0 {
		return 1
	}
	if cv == 0 {
		return math.NaN()
	}
	return rv / cv
}

// ZeroReference says whether retention against r is the defined 1 of a
// reference with nothing to keep (see Retention).
func ZeroReference(r *Result) bool {
	return r.Type != "kl" && r.HigherIsBetter && r.Metrics[r.Primary] == 0
}

func meanStderr(xs []float64) (float64, float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mean := s / n
	if n < 2 {
		return mean, math.NaN()
	}
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(v/(n-1)) / math.Sqrt(n)
}

// workers runs fn over jobs [0, n) on every core for small models; large
// models run one job at a time with multi-threaded GEMMs.
func workers(net *engine.Net, n int, fn func(j int) error) error {
	w := 1
	if net.Cfg.HiddenSize < 1024 {
		w = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int, n)
	for j := 0; j < n; j++ {
		jobs <- j
	}
	close(jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < min(w, n); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := fn(j); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// perplexity: each document on its own, cut into windows that overlap by
// one token so every token after the first is predicted with the window's
// context.
func runPerplexity(m *Model, s *Spec) (*Result, error) {
	docs, toks, err := streams(m.Tok, s.Path)
	if err != nil {
		return nil, err
	}
	if s.Windows {
		return perplexityWindows(m, s)
	}
	seq := windowOf(m, s)
	idx := s.selectIdx(len(docs))
	samples := make([]Sample, len(idx))
	err = workers(m.Net, len(idx), func(j int) error {
		d := docs[idx[j]]
		ids := toks[idx[j]]
		var nll float64
		tokens := 0
		var wins [][]int
		for lo := 0; lo+1 < len(ids); lo += seq - 1 {
			wins = append(wins, ids[lo:min(lo+seq, len(ids))])
		}
		if len(wins) > 0 {
			lps, err := m.Net.LogProbs(wins)
			if err != nil {
				return err
			}
			for _, lp := range lps {
				for _, v := range lp {
					nll -= v
					tokens++
				}
			}
		}
		no := d.Line
		if no == 0 {
			no = idx[j] + 1
		}
		samples[j] = Sample{Index: no, Tokens: tokens, Bytes: len(d.Text), Words: len(strings.Fields(d.Text)), NLL: nll}
		return nil
	})
	if err != nil {
		return nil, err
	}
	met, err := aggregateFor(s, "perplexity", samples)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(docs), NEffective: len(idx)}, nil
}

func windowOf(m *Model, s *Spec) int {
	seq := s.Seq
	if seq <= 0 {
		seq = 256
	}
	if mp := m.Net.Cfg.MaxPositionEmbeddings; mp > 0 && seq > mp {
		seq = mp
	}
	return max(seq, 2)
}

// scoreContinuations returns, for each (context, continuation) pair, the
// summed log-likelihood of the continuation's tokens, their count and
// whether each was the argmax (greedy match). Pairs that share a context
// are packed into one sequence: the context once, each continuation as a
// branch after it.
func scoreContinuations(m *Model, contexts []string, conts [][]string) (ll [][]float64, ntok [][]int, greedy [][]bool, err error) {
	var seqs []engine.Seq
	type ref struct{ item, choice int }
	var targets []engine.Target
	var owners []ref
	for i, ctx := range contexts {
		ctxEnc := m.Tok.Encode(ctx, true)
		if len(ctxEnc) == 0 {
			return nil, nil, nil, fmt.Errorf("context %d encodes to no token", i)
		}
		sq := engine.Seq{Tokens: append([]int(nil), ctxEnc...)}
		for p := range ctxEnc {
			sq.Pos = append(sq.Pos, p)
			sq.Seg = append(sq.Seg, 0)
		}
		for c, cont := range conts[i] {
			whole := m.Tok.Encode(ctx+cont, true)
			var contEnc []int
			if len(whole) > len(ctxEnc) {
				contEnc = whole[len(ctxEnc):]
			}
			prev := len(ctxEnc) - 1
			for k, tok := range contEnc {
				targets = append(targets, engine.Target{Row: engine.Row{Seq: len(seqs), Row: prev}, Token: tok})
				owners = append(owners, ref{i, c})
				sq.Tokens = append(sq.Tokens, tok)
				sq.Pos = append(sq.Pos, len(ctxEnc)+k)
				sq.Seg = append(sq.Seg, c+1)
				prev = len(sq.Tokens) - 1
			}
		}
		seqs = append(seqs, sq)
	}
	rows := make([]engine.Row, len(targets))
	for i, t := range targets {
		rows[i] = t.Row
	}
	lps := make([]float64, len(targets))
	best := make([]bool, len(targets))
	err = m.Net.Rows(seqs, rows, func(i int, l []float32) {
		tok := targets[i].Token
		lps[i] = float64(l[tok]) - kernel.LogSumExp(l)
		arg := 0
		for k, v := range l {
			if v > l[arg] {
				arg = k
			}
		}
		best[i] = arg == tok
	})
	if err != nil {
		return nil, nil, nil, err
	}
	ll = make([][]float64, len(contexts))
	ntok = make([][]int, len(contexts))
	greedy = make([][]bool, len(contexts))
	for i := range contexts {
		ll[i] = make([]float64, len(conts[i]))
		ntok[i] = make([]int, len(conts[i]))
		greedy[i] = make([]bool, len(conts[i]))
		for c := range greedy[i] {
			greedy[i][c] = true
		}
	}
	for k, o := range owners {
		ll[o.item][o.choice] += lps[k]
		ntok[o.item][o.choice]++
		greedy[o.item][o.choice] = greedy[o.item][o.choice] && best[k]
	}
	return ll, ntok, greedy, nil
}

// mcBatch is how many questions one forward call scores.
const mcBatch = 16

func runMultipleChoice(m *Model, s *Spec) (*Result, error) {
	items, err := readItems(s.Path, "multiple_choice", ParseMultipleChoice)
	if err != nil {
		return nil, err
	}
	idx := s.selectIdx(len(items))
	samples := make([]Sample, len(idx))
	err = forBatches(m, len(idx), mcBatch, func(lo, hi int) error {
		var ctxs []string
		var conts [][]string
		type span struct{ first, n int }
		var spans []span
		for _, k := range idx[lo:hi] {
			it := &items[k]
			spans = append(spans, span{len(ctxs), len(it.Contexts)})
			if len(it.Contexts) == 1 {
				ctxs = append(ctxs, it.Contexts[0])
				conts = append(conts, it.Continuations)
			} else {
				for _, c := range it.Contexts {
					ctxs = append(ctxs, c)
					conts = append(conts, it.Continuations)
				}
			}
		}
		ll, ntok, _, err := scoreContinuations(m, ctxs, conts)
		if err != nil {
			return err
		}
		for j, k := range idx[lo:hi] {
			it := &items[k]
			sp := spans[j]
			var lls []float64
			tokens := 0
			if sp.n == 1 {
				lls = ll[sp.first]
				for _, t := range ntok[sp.first] {
					tokens += t
				}
			} else {
				for c := 0; c < sp.n; c++ {
					lls = append(lls, ll[sp.first+c][0])
					tokens += ntok[sp.first+c][0]
				}
			}
			pred, predNorm := 0, 0
			for c := range lls {
				if lls[c] > lls[pred] {
					pred = c
				}
				if lls[c]/float64(it.NormLen[c]) > lls[predNorm]/float64(it.NormLen[predNorm]) {
					predNorm = c
				}
			}
			gold := it.Gold
			ok := pred == gold
			okNorm := predNorm == gold
			samples[lo+j] = Sample{Index: it.Line, LL: lls, Gold: &gold, Pred: &pred, Correct: &ok, CorrectNorm: &okNorm, Tokens: tokens}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	met, err := aggregateFor(s, "multiple_choice", samples)
	if err != nil {
		return nil, err
	}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(items), NEffective: len(idx)}, nil
}

func runLogLikelihood(m *Model, s *Spec) (*Result, error) {
	items, err := readItems(s.Path, "loglikelihood", ParseLogLikelihood)
	if err != nil {
		return nil, err
	}
	idx := s.selectIdx(len(items))
	samples := make([]Sample, len(idx))
	err = forBatches(m, len(idx), mcBatch, func(lo, hi int) error {
		var ctxs []string
		var conts [][]string
		for _, k := range idx[lo:hi] {
			ctxs = append(ctxs, items[k].Context)
			conts = append(conts, []string{items[k].Continuation})
		}
		ll, ntok, greedy, err := scoreContinuations(m, ctxs, conts)
		if err != nil {
			return err
		}
		for j, k := range idx[lo:hi] {
			ok := greedy[j][0]
			samples[lo+j] = Sample{Index: items[k].Line, LL: []float64{ll[j][0]}, Correct: &ok, Tokens: ntok[j][0], NLL: -ll[j][0]}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	met, err := aggregateFor(s, "loglikelihood", samples)
	if err != nil {
		return nil, err
	}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(items), NEffective: len(idx)}, nil
}

// perplexityWindows scores the windows of the concatenated token stream;
// bytes are those the predicted tokens stand for (word perplexity is not
// defined per window and is left out).
func perplexityWindows(m *Model, s *Spec) (*Result, error) {
	all, err := windows(m.Tok, s.Path, windowOf(m, s))
	if err != nil {
		return nil, err
	}
	idx := s.selectIdx(len(all))
	samples := make([]Sample, len(idx))
	err = forBatches(m, len(idx), engine.WindowBatch, func(lo, hi int) error {
		wins := make([][]int, 0, hi-lo)
		for _, k := range idx[lo:hi] {
			wins = append(wins, all[k])
		}
		lps, err := m.Net.LogProbs(wins)
		if err != nil {
			return err
		}
		for j, lp := range lps {
			sm := Sample{Index: idx[lo+j], Tokens: len(lp)}
			for p, v := range lp {
				sm.NLL -= v
				sm.Bytes += m.Tok.TokenBytes(wins[j][p+1])
			}
			samples[lo+j] = sm
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	met, err := aggregateFor(s, "perplexity", samples)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(all), NEffective: len(idx)}, nil
}

// batchSize is how many samples one forward call takes. With a prefix
// cache each sample is its own batch, so its cached activations are found
// again whatever the budget (a batch of the first 8 samples at one budget
// is not the batch of the first 3 at another).
func batchSize(m *Model, def int) int {
	if m.Net.Prefix != nil && m.Net.Prefix.Cache != nil {
		return 1
	}
	return def
}

// forBatches runs fn over consecutive batches [lo, hi) of n samples, on
// every core for small models (see workers and batchSize).
func forBatches(m *Model, n, def int, fn func(lo, hi int) error) error {
	per := batchSize(m, def)
	return workers(m.Net, (n+per-1)/per, func(b int) error {
		if m.Ctx != nil && m.Ctx.Err() != nil {
			return m.Ctx.Err()
		}
		return fn(b*per, min((b+1)*per, n))
	})
}
