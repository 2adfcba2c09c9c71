package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// Options of one generation run.
type Options struct {
	Sampling
	MaxTokens int      // tokens generated at most per prompt
	Stop      []string // stop strings: generation ends before the first, which is not printed
	EOS       []int    // ids that end a sequence (EOSIDs)
	IgnoreEOS bool     // generate through EOS ids (up to MaxTokens)
	KVBF16    bool     // keys and values in bfloat16 (--kv bf16)
	// FirstStream is the random stream of the first prompt (prompt i draws
	// from stream FirstStream+i), so a prompt draws the same tokens in
	// whatever batch it runs.
	FirstStream int
	// TruncateLeft drops a prompt's first tokens when prompt + MaxTokens
	// exceed the context, instead of refusing it.
	TruncateLeft bool
	// Observe, when set, sees each token chosen for sequence i with the
	// logits it was chosen from (after a repetition penalty; reused once
	// Observe returns), EOS and stop-string tokens included, in order: the
	// OpenAI-compatible API's logprobs.
	Observe func(i int, logits []float32, token int)
}

// Check names the flag or field of a value out of range.
func (o *Options) Check() error {
	errs := []error{o.Sampling.Check()}
	if o.MaxTokens <= 0 {
		errs = append(errs, fmt.Errorf("--max-tokens %d: must be at least 1", o.MaxTokens))
	}
	for i, s := range o.Stop {
		if s == "" {
			errs = append(errs, fmt.Errorf("--stop #%d is empty", i+1))
		}
	}
	return errors.Join(errs...)
}

// Finish reasons.
const (
	FinishStop      = "stop"      // a stop string came
	FinishEOS       = "eos"       // an end-of-sequence id came
	FinishLength    = "length"    // MaxTokens were generated
	FinishCancelled = "cancelled" // the context was cancelled (Ctrl-C)
)

// Result is one prompt's generation.
type Result struct {
	Text         string
	Tokens       []int // generated ids: prompt, EOS and the ids of a stop string excluded
	PromptTokens int
	FinishReason string
	// PrefillSeconds is the time of the batch's prefill and DecodeSeconds
	// of its decode steps while this sequence ran; DecodeSteps counts the
	// tokens it fed them.
	PrefillSeconds, DecodeSeconds float64
	DecodeSteps                   int
}

// TokensPerSecond is the decode rate (generated tokens fed back per
// second of decode steps).
func (r *Result) TokensPerSecond() float64 { return rate(r.DecodeSteps, r.DecodeSeconds) }

// PromptTokensPerSecond is the prefill rate.
func (r *Result) PromptTokensPerSecond() float64 { return rate(r.PromptTokens, r.PrefillSeconds) }

func rate(n int, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return math.Round(float64(n)/s*100) / 100
}

// Generator runs prompts through a net.
type Generator struct {
	Net *engine.Net
	Tok *tokenizer.Tokenizer
}

// Context is how many positions the net runs (max_position_embeddings).
func (g *Generator) Context() int { return g.Net.Cfg.MaxPositionEmbeddings }

// fit checks that prompt + maxTokens fit the context, or cuts the prompt
// from the left when allowed.
func (g *Generator) fit(i int, prompt []int, o *Options) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("prompt %d is empty", i+1)
	}
	ctx := g.Context()
	if ctx <= 0 || len(prompt)+o.MaxTokens <= ctx {
		return prompt, nil
	}
	if o.TruncateLeft && o.MaxTokens < ctx {
		return prompt[len(prompt)+o.MaxTokens-ctx:], nil
	}
	return nil, fmt.Errorf("prompt %d: %d prompt tokens + --max-tokens %d = %d exceed the model's context of %d tokens (max_position_embeddings)",
		i+1, len(prompt), o.MaxTokens, len(prompt)+o.MaxTokens, ctx)
}

// KVBytes is the memory the caches of these prompts take.
func (g *Generator) KVBytes(prompts [][]int, o *Options) int64 {
	var n int64
	for _, p := range prompts {
		positions := len(p) + o.MaxTokens
		if c := g.Context(); c > 0 && o.TruncateLeft {
			positions = min(positions, c)
		}
		n += g.Net.KVBytes(positions, o.KVBF16)
	}
	return n
}

// Run generates a continuation of every prompt (token ids, BOS included
// if wanted), all prompts prefilled in one batch and then decoded
// together, one token of each unfinished sequence per step. onText, when
// set, receives each sequence's text as it becomes printable (from the
// calling goroutine, in order); what it receives for a sequence adds up to
// its Result.Text. A cancelled ctx ends every sequence at the step it is
// in (FinishCancelled) and returns the results so far with ctx's error.
func (g *Generator) Run(ctx context.Context, prompts [][]int, o Options, onText func(i int, text string)) ([]Result, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return nil, errors.New("no prompts")
	}
	eos := map[int]bool{}
	if !o.IgnoreEOS {
		for _, id := range o.EOS {
			eos[id] = true
		}
	}
	B := len(prompts)
	res := make([]Result, B)
	caches := make([]*engine.KVCache, B)
	samplers := make([]*sampler, B)
	streams := make([]*stream, B)
	next := make([][]int, B)
	for i, p := range prompts {
		p, err := g.fit(i, p, &o)
		if err != nil {
			return nil, err
		}
		if caches[i], err = g.Net.NewKVCache(len(p)+o.MaxTokens, o.KVBF16); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		if streams[i], err = newStream(g.Tok, p, o.Stop); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		samplers[i] = newSampler(o.Sampling, o.FirstStream+i, p)
		res[i].PromptTokens = len(p)
		next[i] = p
	}
	emit := func(i int, s string) {
		if onText != nil && s != "" {
			onText(i, s)
		}
	}
	active := make([]int, B) // the sequences still generating
	for i := range active {
		active[i] = i
	}
	prefill := true
	for len(active) > 0 {
		if err := ctx.Err(); err != nil {
			for _, i := range active {
				emit(i, streams[i].finish())
				res[i].FinishReason = FinishCancelled
			}
			break
		}
		cs := make([]*engine.KVCache, len(active))
		in := make([][]int, len(active))
		for k, i := range active {
			cs[k], in[k] = caches[i], next[i]
		}
		picked := make([]int, len(active))
		start := time.Now()
		err := g.Net.Extend(cs, in, false, func(k, _ int, logits []float32) {
			picked[k] = samplers[active[k]].next(logits)
			if o.Observe != nil {
				o.Observe(active[k], logits, picked[k])
			}
		})
		if err != nil {
			return nil, err
		}
		took := time.Since(start).Seconds()
		var still []int
		for k, i := range active {
			r := &res[i]
			if prefill {
				r.PrefillSeconds = took
			} else {
				r.DecodeSeconds += took
				r.DecodeSteps++
			}
			tok := picked[k]
			if eos[tok] {
				r.FinishReason = FinishEOS
				emit(i, streams[i].finish())
				continue
			}
			piece, stopped, err := streams[i].add(tok)
			if err != nil {
				return nil, fmt.Errorf("prompt %d: %w", i+1, err)
			}
			emit(i, piece)
			if stopped {
				r.FinishReason = FinishStop
				continue
			}
			if len(streams[i].ids)-len(streams[i].ctx) >= o.MaxTokens {
				r.FinishReason = FinishLength
				emit(i, streams[i].finish())
				continue
			}
			next[i] = []int{tok}
			still = append(still, i)
		}
		active, prefill = still, false
	}
	for i := range res {
		s := streams[i]
		res[i].Text = s.final()
		res[i].Tokens = append([]int{}, s.ids[len(s.ctx):len(s.ctx)+s.keptTokens()]...)
	}
	return res, ctx.Err()
}

// EOSIDs are the ids that end generation for the model in dir:
// generation_config.json's eos_token_id (one id or several, as Llama-3's),
// else config.json's, else the tokenizer's eos_token.
func EOSIDs(dir string, cfg *model.Config, tok *tokenizer.Tokenizer) ([]int, error) {
	path := filepath.Join(dir, "generation_config.json")
	if raw, err := os.ReadFile(path); err == nil {
		var gc struct {
			EOS any `json:"eos_token_id"`
		}
		if err := json.Unmarshal(raw, &gc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if ids, err := tokenIDs(gc.EOS, path); err != nil || ids != nil {
			return ids, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if cfg != nil {
		if ids, err := tokenIDs(cfg.EOSTokenID, filepath.Join(dir, "config.json")); err != nil || ids != nil {
			return ids, err
		}
	}
	if tok != nil && tok.EOS >= 0 {
		return []int{tok.EOS}, nil
	}
	return nil, nil
}

// tokenIDs reads an eos_token_id field: null, a number or a list of them.
func tokenIDs(v any, file string) ([]int, error) {
	one := func(x any) (int, error) {
		f, ok := x.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || f > 1<<31 {
			return 0, fmt.Errorf("%s: eos_token_id %v is not a token id", file, x)
		}
		return int(f), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		ids := []int{}
		for _, e := range x {
			id, err := one(e)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, nil
	default:
		id, err := one(x)
		if err != nil {
			return nil, err
		}
		return []int{id}, nil
	}
}
