package task

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Aggregate computes a task's metrics from its samples — the one place
// they are computed, so results evaluated in parts (budget reuse) and at
// once are equal to the bit.
func Aggregate(typ string, samples []Sample) (map[string]float64, error) {
	switch typ {
	case "perplexity":
		var nll float64
		tokens, bytes, words := 0, 0, 0
		for _, sm := range samples {
			nll += sm.NLL
			tokens += sm.Tokens
			bytes += sm.Bytes
			words += sm.Words
		}
		if tokens == 0 {
			return nil, errors.New("no token to predict")
		}
		met := map[string]float64{
			"nll":              nll / float64(tokens),
			"token_perplexity": math.Exp(nll / float64(tokens)),
			"byte_perplexity":  math.Exp(nll / float64(max(bytes, 1))),
			"bits_per_byte":    nll / float64(max(bytes, 1)) / math.Ln2,
		}
		if words > 0 { // whole documents (windows are not words)
			met["word_perplexity"] = math.Exp(nll / float64(words))
		}
		return met, nil
	case "multiple_choice":
		accs := make([]float64, len(samples))
		norms := make([]float64, len(samples))
		for i, sm := range samples {
			if sm.Correct != nil && *sm.Correct {
				accs[i] = 1
			}
			if sm.CorrectNorm != nil && *sm.CorrectNorm {
				norms[i] = 1
			}
		}
		acc, accErr := meanStderr(accs)
		norm, normErr := meanStderr(norms)
		return map[string]float64{"acc": acc, "acc_stderr": accErr, "acc_norm": norm, "acc_norm_stderr": normErr}, nil
	case "generate_until":
		ems := make([]float64, len(samples))
		for i, sm := range samples {
			if sm.Correct != nil && *sm.Correct {
				ems[i] = 1
			}
		}
		em, emErr := meanStderr(ems)
		return map[string]float64{"exact_match": em, "exact_match_stderr": emErr}, nil
	case "loglikelihood":
		accs := make([]float64, len(samples))
		var nll float64
		tokens := 0
		for i, sm := range samples {
			if sm.Correct != nil && *sm.Correct {
				accs[i] = 1
			}
			nll += sm.NLL
			tokens += sm.Tokens
		}
		acc, accErr := meanStderr(accs)
		return map[string]float64{"acc": acc, "acc_stderr": accErr, "perplexity": math.Exp(nll / float64(max(tokens, 1)))}, nil
	}
	return nil, fmt.Errorf("metrics of %q tasks are not computed from their samples", typ)
}

// aggregateFor is Aggregate for a runner: a run that skipped every sample
// (From past them: all evaluated before) has no metrics of its own.
func aggregateFor(s *Spec, typ string, samples []Sample) (map[string]float64, error) {
	if len(samples) == 0 && s.From > 0 {
		return map[string]float64{}, nil
	}
	return Aggregate(typ, samples)
}

// Reusable says whether a task's results at a budget are its results at a
// smaller budget plus the samples in between (so a promoted candidate
// evaluates only the new samples). KL tasks cut windows across documents
// and are evaluated whole.
func Reusable(typ string) bool { return typ != "kl" }

// finish fills a result's identity and applies the spec's metric filter.
func finish(r *Result, s *Spec, start time.Time) *Result {
	r.Name, r.Type, r.Weight, r.Seconds = s.Name, s.Type, s.WeightOf(), time.Since(start).Seconds()
	r.Primary = primary[s.Type]
	r.HigherIsBetter = metricsOf[s.Type][r.Primary]
	if len(s.Metrics) > 0 {
		keep := map[string]float64{}
		for _, k := range s.Metrics {
			for name, v := range r.Metrics {
				if name == k || name == k+"_stderr" {
					keep[name] = v
				}
			}
		}
		r.Metrics = keep
		if _, ok := keep[r.Primary]; !ok {
			r.Primary = s.Metrics[0]
			r.HigherIsBetter = metricsOf[s.Type][r.Primary]
		}
	}
	return r
}

// Merge is the result of s on prev's samples followed by next's (next
// evaluated with s.From = len(prev.Samples)): equal to evaluating them at
// once.
func Merge(s *Spec, prev, next *Result) (*Result, error) {
	samples := append(append([]Sample(nil), prev.Samples...), next.Samples...)
	met, err := Aggregate(s.Type, samples)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", s.Name, err)
	}
	r := &Result{Metrics: met, Samples: samples, NOriginal: next.NOriginal, NEffective: len(samples)}
	return finish(r, s, time.Now().Add(-time.Duration((prev.Seconds+next.Seconds)*float64(time.Second)))), nil
}

// Prefix is the result of s on r's first n samples.
func Prefix(s *Spec, r *Result, n int) (*Result, error) {
	return Merge(s, &Result{Samples: r.Samples[:n], Seconds: 0}, &Result{NOriginal: r.NOriginal})
}
