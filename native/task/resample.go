package task

import "math"

// PrimaryOn is the result's primary metric recomputed on some of its
// samples (indices into Samples, repeats allowed), for the bootstrap. ok
// is false for metrics the samples do not determine (acc_norm, word
// perplexity) or a resample with nothing to score.
func PrimaryOn(r *Result, idx []int) (v float64, ok bool) {
	var nll float64
	tokens, bytes, correct := 0, 0, 0
	for _, i := range idx {
		s := &r.Samples[i]
		nll += s.NLL
		tokens += s.Tokens
		bytes += s.Bytes
		if s.Correct != nil && *s.Correct {
			correct++
		}
	}
	switch r.Primary {
	case "acc", "exact_match":
		if len(idx) == 0 {
			return 0, false
		}
		return float64(correct) / float64(len(idx)), true
	case "bits_per_byte":
		if bytes == 0 {
			return 0, false
		}
		return nll / float64(bytes) / math.Ln2, true
	case "byte_perplexity":
		if bytes == 0 {
			return 0, false
		}
		return math.Exp(nll / float64(bytes)), true
	case "nll", "kl":
		if tokens == 0 {
			return 0, false
		}
		return nll / float64(tokens), true
	case "token_perplexity", "perplexity":
		if tokens == 0 {
			return 0, false
		}
		return math.Exp(nll / float64(tokens)), true
	}
	return 0, false
}
