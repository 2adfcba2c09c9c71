package openai

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/generate"
)

// MaxStops bounds the stop strings of a request (OpenAI allows 4;
// lm-eval's local-completions sends a task's until list and the EOS).
const MaxStops = 16

// common are the parameters completions and chat completions share.
type common struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Seed          *int64          `json:"seed"`
	Stop          json.RawMessage `json:"stop"`
	N             *int            `json:"n"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	FrequencyPenalty *float64       `json:"frequency_penalty"`
	PresencePenalty  *float64       `json:"presence_penalty"`
	LogitBias        map[string]any `json:"logit_bias"`
	BestOf           *int           `json:"best_of"`
	Suffix           *string        `json:"suffix"`
}

// decode reads a request body into v, naming the field of a type error.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badParam("", "the request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			return badParam("", "malformed JSON: data after the request object")
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := strings.TrimPrefix(te.Field, "common.")
		return badParam(field, "%s: want %s, got JSON %s", field, te.Type, te.Value)
	case errors.As(err, &se):
		return badParam("", "malformed JSON at byte %d: %v", se.Offset, err)
	}
	return badParam("", "malformed JSON: %v", err)
}

// options checks the shared parameters and turns them into decoding
// options (MaxTokens still to be set by the caller from maxTokens).
func (c *common) options() (generate.Options, error) {
	var o generate.Options
	if c.N != nil && *c.N != 1 {
		return o, badParam("n", "n %d: only 1 completion per prompt is served (send the request again, with another seed)", *c.N)
	}
	if c.BestOf != nil && *c.BestOf != 1 {
		return o, badParam("best_of", "best_of %d: only 1 is served", *c.BestOf)
	}
	if c.FrequencyPenalty != nil && *c.FrequencyPenalty != 0 {
		return o, badParam("frequency_penalty", "frequency_penalty: not supported (0 only)")
	}
	if c.PresencePenalty != nil && *c.PresencePenalty != 0 {
		return o, badParam("presence_penalty", "presence_penalty: not supported (0 only)")
	}
	if len(c.LogitBias) > 0 {
		return o, badParam("logit_bias", "logit_bias: not supported")
	}
	if c.Suffix != nil && *c.Suffix != "" {
		return o, badParam("suffix", "suffix: not supported")
	}
	o.Temperature = 1 // OpenAI's default
	if c.Temperature != nil {
		t := *c.Temperature
		if !(t >= 0 && t <= 2) {
			return o, badParam("temperature", "temperature %g: between 0 (greedy) and 2", t)
		}
		o.Temperature = t
	}
	if c.TopP != nil {
		p := *c.TopP
		if !(p > 0 && p <= 1) {
			return o, badParam("top_p", "top_p %g: in (0, 1]", p)
		}
		o.TopP = p
	}
	if c.Seed != nil {
		o.Seed = uint64(*c.Seed)
	} else {
		var b [8]byte
		rand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:])
	}
	stops, err := stopList(c.Stop)
	if err != nil {
		return o, err
	}
	o.Stop = stops
	return o, nil
}

// stopList reads stop: null, a string or a list of strings.
func stopList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, badParam("stop", "stop: an empty string")
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badParam("stop", "stop: want a string or a list of strings")
	}
	if len(list) > MaxStops {
		return nil, badParam("stop", "stop: %d strings, at most %d", len(list), MaxStops)
	}
	for i, s := range list {
		if s == "" {
			return nil, badParam("stop", "stop[%d]: an empty string", i)
		}
	}
	return list, nil
}

// maxTokens reads max_tokens (or its chat alias), def when absent.
func maxTokens(v *int, name string, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 0 {
		return 0, badParam(name, "%s %d: must be 0 or more", name, *v)
	}
	return *v, nil
}

// fits refuses a prompt that with maxTok generated tokens would outgrow
// the context.
func fits(i, n, maxTok, ctx int, param string) error {
	if ctx > 0 && n+maxTok > ctx {
		return badParam(param, "prompt %d: %d tokens + max_tokens %d = %d exceed the model's context of %d tokens", i+1, n, maxTok, n+maxTok, ctx)
	}
	return nil
}

// work is what one request asks of the engine.
type work struct {
	prompts [][]int
	opts    generate.Options // MaxTokens 0: score only
	k       int              // alternatives per position; -1: no logprobs
	echo    bool             // score the prompts' own tokens
	// onText, when set, streams: each sequence's text as it becomes
	// printable and the generated tokens observed since its last call.
	onText func(i int, text string, toks []scored)
	// onScored, when set, sees the prompts' scores (nil without logprobs)
	// before anything is generated.
	onScored func(prompt [][]scored)
}

// outcome is what the engine returned.
type outcome struct {
	prompt [][]scored // echo with logprobs: each prompt's tokens scored
	gen    [][]scored // with logprobs: each sequence's kept tokens
	res    []generate.Result
	sent   []int // streaming: tokens already handed to onText
}

// do runs a request on a net: the prompts scored (echo with logprobs),
// then continued by MaxTokens tokens.
func (a *API) do(ctx context.Context, net *engine.Net, w *work) (*outcome, error) {
	n := len(w.prompts)
	out := &outcome{res: make([]generate.Result, n), gen: make([][]scored, n), sent: make([]int, n)}
	if w.echo && w.k >= 0 {
		var err error
		if out.prompt, err = scorePrompts(net, w.prompts, w.k); err != nil {
			return nil, internal(err)
		}
	}
	if w.onScored != nil {
		w.onScored(out.prompt)
	}
	if w.opts.MaxTokens == 0 {
		for i, p := range w.prompts {
			out.res[i] = generate.Result{PromptTokens: len(p), FinishReason: generate.FinishLength}
		}
		return out, nil
	}
	observed := make([][]scored, len(w.prompts))
	opts := w.opts
	if w.k >= 0 || w.onText != nil {
		k := max(w.k, 0)
		want := w.k >= 0
		opts.Observe = func(i int, logits []float32, token int) {
			if want {
				observed[i] = append(observed[i], statRow(logits, token, k))
			} else {
				observed[i] = append(observed[i], scored{alt: alt{id: token}})
			}
		}
	}
	var onText func(int, string)
	if w.onText != nil {
		onText = func(i int, s string) {
			toks := observed[i][out.sent[i]:]
			out.sent[i] = len(observed[i])
			w.onText(i, s, toks)
		}
	}
	g := &generate.Generator{Net: net, Tok: a.cfg.Family.Tok}
	eos, err := generate.EOSIDs(a.cfg.Family.Base().Dir, net.Cfg, a.cfg.Family.Tok)
	if err != nil {
		return nil, internal(err)
	}
	opts.EOS = eos
	res, err := g.Run(ctx, w.prompts, opts, onText)
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, internal(err)
	}
	if res == nil {
		return nil, err
	}
	out.res = res
	out.gen = make([][]scored, len(res))
	for i, r := range res {
		out.gen[i] = observed[i][:min(len(r.Tokens), len(observed[i]))]
	}
	return out, err
}

// finish is OpenAI's finish_reason for a sequence.
func finish(r generate.Result) string {
	switch r.FinishReason {
	case generate.FinishEOS, generate.FinishStop:
		return "stop"
	}
	return "length"
}

// checkIDs refuses token ids outside the vocabulary.
func checkIDs(i int, ids []int, vocab int) error {
	for j, id := range ids {
		if id < 0 || id >= vocab {
			return badParam("prompt", "prompt %d, token %d: id %d outside the vocabulary of %d", i+1, j, id, vocab)
		}
	}
	return nil
}

// finiteLP replaces a log-prob of -Inf (a token the model rules out),
// which JSON cannot carry, by -9999 as vLLM does.
func finiteLP(v float64) float64 {
	if math.IsInf(v, -1) || math.IsNaN(v) {
		return -9999
	}
	return v
}
