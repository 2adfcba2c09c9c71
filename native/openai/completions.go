package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/session"
)

// completionRequest is POST /v1/completions' body.
type completionRequest struct {
	common
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
}

// DefaultCompletionTokens is max_tokens when a completion request has
// none (OpenAI's default).
const DefaultCompletionTokens = 16

type completionChoice struct {
	Index        int                 `json:"index"`
	Text         string              `json:"text"`
	Logprobs     *completionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *usage             `json:"usage"`
}

// prompts reads prompt: a string, a list of strings, a list of token ids
// or a list of id lists; text is encoded as generate encodes it (with the
// tokenizer's BOS).
func (a *API) prompts(raw json.RawMessage) ([][]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badParam("prompt", "prompt: required (a string, a list of strings, a list of token ids or a list of id lists)")
	}
	tok := a.cfg.Family.Tok
	vocab := a.cfg.Family.Base().Config.VocabSize
	encode := func(i int, s string) ([]int, error) {
		if !utf8.ValidString(s) {
			return nil, badParam("prompt", "prompt %d: not UTF-8 text", i+1)
		}
		ids := tok.Encode(s, true)
		if len(ids) == 0 {
			return nil, badParam("prompt", "prompt %d is empty", i+1)
		}
		return ids, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		ids, err := encode(0, one)
		if err != nil {
			return nil, err
		}
		return [][]int{ids}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badParam("prompt", "prompt: want a string, a list of strings, a list of token ids or a list of id lists")
	}
	if len(list) == 0 {
		return nil, badParam("prompt", "prompt: an empty list")
	}
	first := bytes.TrimSpace(list[0])
	switch {
	case len(first) > 0 && first[0] == '"', len(first) > 0 && first[0] == '[':
		if len(list) > a.cfg.MaxPrompts {
			return nil, badParam("prompt", "prompt: %d prompts, at most %d per request", len(list), a.cfg.MaxPrompts)
		}
		out := make([][]int, len(list))
		for i, e := range list {
			var s string
			var ids []int
			switch {
			case json.Unmarshal(e, &s) == nil && first[0] == '"':
				var err error
				if out[i], err = encode(i, s); err != nil {
					return nil, err
				}
			case json.Unmarshal(e, &ids) == nil && first[0] == '[':
				if len(ids) == 0 {
					return nil, badParam("prompt", "prompt %d: an empty token list", i+1)
				}
				if err := checkIDs(i, ids, vocab); err != nil {
					return nil, err
				}
				out[i] = ids
			default:
				return nil, badParam("prompt", "prompt[%d]: a list mixes kinds; send all strings or all token id lists", i)
			}
		}
		return out, nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, badParam("prompt", "prompt: a list of token ids must hold integers only")
	}
	if err := checkIDs(0, ids, vocab); err != nil {
		return nil, err
	}
	return [][]int{ids}, nil
}

func (a *API) completions(w http.ResponseWriter, r *http.Request) {
	body, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req completionRequest
	if err := decode(body, &req); err != nil {
		writeError(w, err)
		return
	}
	opts, err := req.options()
	if err != nil {
		writeError(w, err)
		return
	}
	if opts.MaxTokens, err = maxTokens(req.MaxTokens, "max_tokens", DefaultCompletionTokens); err != nil {
		writeError(w, err)
		return
	}
	k := -1
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > MaxLogprobs {
			writeError(w, badParam("logprobs", "logprobs %d: between 0 and %d", *req.Logprobs, MaxLogprobs))
			return
		}
		k = *req.Logprobs
	}
	e, err := a.models.resolve(req.Model)
	if err != nil {
		writeError(w, err)
		return
	}
	prompts, err := a.prompts(req.Prompt)
	if err != nil {
		writeError(w, err)
		return
	}
	param := "max_tokens"
	if opts.MaxTokens == 0 {
		param = "prompt"
	}
	for i, p := range prompts {
		if err := fits(i, len(p), opts.MaxTokens, e.Meta.Context, param); err != nil {
			writeError(w, err)
			return
		}
	}
	wk := &work{prompts: prompts, opts: opts, k: k, echo: req.Echo}
	if key := batchKey(session.JobID(e.target, 0, 0), wk); key != "" && !req.Stream {
		// Greedy, unstreamed: may share a batch with concurrent requests.
		it := a.batch.add(r.Context(), key, wk)
		queued := a.run(w, r, "completion", func(ctx context.Context) {
			a.runBatch(it, func(ctx context.Context, all *work) (*outcome, error) {
				net, err := a.nets.get(e.target)
				if err != nil {
					return nil, internal(err)
				}
				return a.do(ctx, net, all)
			})
			if it.out == nil {
				writeError(w, it.err)
				return
			}
			c := &completionCall{a: a, req: &req, model: e.ID, id: newID("cmpl-"), created: time.Now().Unix(), w: wk}
			writeJSON(w, c.response(it.out))
		})
		if !queued {
			a.batch.drop(it)
		}
		return
	}
	a.run(w, r, "completion", func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		c := &completionCall{a: a, req: &req, model: e.ID, id: newID("cmpl-"), created: time.Now().Unix(), w: wk}
		net, err := a.nets.get(e.target)
		if err != nil {
			writeError(w, internal(err))
			return
		}
		if req.Stream {
			c.stream(ctx, net, newSSE(w, cancel))
			return
		}
		out, err := a.do(ctx, net, wk)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, c.response(out))
	})
}

// completionCall is one completion request being answered.
type completionCall struct {
	a       *API
	req     *completionRequest
	model   string
	id      string
	created int64
	w       *work
}

func (c *completionCall) usage(out *outcome) *usage {
	u := &usage{}
	for i, r := range out.res {
		u.PromptTokens += len(c.w.prompts[i])
		u.CompletionTokens += len(r.Tokens)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// echoText is the prompt as its tokens read (the pieces logprobs lists).
func (c *completionCall) echoText(i int) string {
	s, _ := c.a.cfg.Family.Tok.Decode(c.w.prompts[i])
	return s
}

func (c *completionCall) response(out *outcome) completionResponse {
	p := pieces{c.a.cfg.Family.Tok}
	resp := completionResponse{ID: c.id, Object: "text_completion", Created: c.created, Model: c.model, Usage: c.usage(out)}
	for i, r := range out.res {
		prompt := c.w.prompts[i]
		ch := completionChoice{Index: i, Text: r.Text}
		fr := finish(r)
		ch.FinishReason = &fr
		if c.w.echo {
			ch.Text = c.echoText(i) + r.Text
		}
		if c.w.k >= 0 {
			lp := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []*float64{}, TopLogprobs: []topMap{}, TextOffset: []int{}}
			off := 0
			if c.w.echo {
				off = lp.add(p, nil, out.prompt[i], 0)
			}
			lp.add(p, prompt, out.gen[i], off)
			ch.Logprobs = lp
		}
		resp.Choices = append(resp.Choices, ch)
	}
	return resp
}

// stream answers with server-sent events: with echo the prompt first (and
// its logprobs), then the text as it comes (with its tokens' logprobs), a
// last event per choice with its finish_reason, usage when
// stream_options.include_usage asks, then [DONE].
func (c *completionCall) stream(ctx context.Context, net *engine.Net, s *sse) {
	p := pieces{c.a.cfg.Family.Tok}
	n := len(c.w.prompts)
	ids := make([][]int, n) // the tokens before the next event's
	offs := make([]int, n)
	for i := range ids {
		ids[i] = c.w.prompts[i]
	}
	chunk := func(i int, text string, toks []scored, ctx []int, fin *string) completionResponse {
		ch := completionChoice{Index: i, Text: text, FinishReason: fin}
		if c.w.k >= 0 {
			lp := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []*float64{}, TopLogprobs: []topMap{}, TextOffset: []int{}}
			offs[i] = lp.add(p, ctx, toks, offs[i])
			ch.Logprobs = lp
		}
		return completionResponse{ID: c.id, Object: "text_completion", Created: c.created, Model: c.model, Choices: []completionChoice{ch}}
	}
	c.w.onScored = func(prompt [][]scored) {
		if !c.w.echo {
			return
		}
		for i := range c.w.prompts {
			var toks []scored
			if prompt != nil {
				toks = prompt[i]
			}
			s.event(chunk(i, c.echoText(i), toks, nil, nil))
		}
	}
	c.w.onText = func(i int, text string, toks []scored) {
		s.event(chunk(i, text, toks, ids[i], nil))
		for _, t := range toks {
			ids[i] = append(ids[i], t.id)
		}
	}
	out, err := c.a.do(ctx, net, c.w)
	if err != nil && out == nil {
		s.fail(err)
		return
	}
	for i, r := range out.res {
		var rest []scored
		if out.gen != nil && out.sent[i] < len(out.gen[i]) {
			rest = out.gen[i][out.sent[i]:]
		}
		fr := finish(r)
		s.event(chunk(i, "", rest, ids[i], &fr))
	}
	if c.req.StreamOptions != nil && c.req.StreamOptions.IncludeUsage {
		s.event(completionResponse{ID: c.id, Object: "text_completion", Created: c.created, Model: c.model, Choices: []completionChoice{}, Usage: c.usage(out)})
	}
	s.done()
}
