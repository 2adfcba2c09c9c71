package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/chattemplate"
	"github.com/gptailor/gptailor/native/engine"
)

// chatRequest is POST /v1/chat/completions' body.
type chatRequest struct {
	common
	Messages            json.RawMessage `json:"messages"`
	Tools               json.RawMessage `json:"tools"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            bool            `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
}

type chatMessage struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content"`
}

type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      *chatMessage  `json:"message,omitempty"`
	Delta        *chatMessage  `json:"delta,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
}

// template is the chat template: --chat-template's file, else the base
// model's.
func (a *API) template() (*chattemplate.Template, error) {
	a.tplOnce.Do(func() {
		if a.cfg.ChatTemplate == "" {
			a.tpl, a.tplErr = chattemplate.Load(a.cfg.Family.Base().Dir)
			return
		}
		src, err := os.ReadFile(a.cfg.ChatTemplate)
		if err != nil {
			a.tplErr = err
			return
		}
		if a.tpl, a.tplErr = chattemplate.Parse(a.cfg.ChatTemplate, string(src)); a.tplErr == nil {
			tok := a.cfg.Family.Tok
			a.tpl.BOSToken, _ = tok.Token(tok.BOS)
			a.tpl.EOSToken, _ = tok.Token(tok.EOS)
		}
	})
	return a.tpl, a.tplErr
}

// flattenParts turns messages whose content is a list of text parts
// ([{"type": "text", "text": ...}], as OpenAI's clients may send) into
// plain text content; other parts (images, audio) are refused.
func flattenParts(raw json.RawMessage) (json.RawMessage, error) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, badParam("messages", "messages: want a list of message objects")
	}
	changed := false
	for i, m := range msgs {
		var fields map[string]json.RawMessage
		if json.Unmarshal(m, &fields) != nil {
			continue // named by ParseConversation
		}
		c := bytes.TrimSpace(fields["content"])
		if len(c) == 0 || c[0] != '[' {
			continue
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(c, &parts); err != nil {
			return nil, badParam("messages", "messages[%d].content: want a string or a list of text parts", i)
		}
		var b strings.Builder
		for j, p := range parts {
			if p.Type != "text" {
				return nil, badParam("messages", "messages[%d].content[%d]: type %q; only text parts are served", i, j, p.Type)
			}
			b.WriteString(p.Text)
		}
		fields["content"], _ = json.Marshal(b.String())
		msgs[i], _ = json.Marshal(fields)
		changed = true
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(msgs)
}

// chatPrompt renders the messages (and tools) with the chat template and
// encodes the text (which carries its own BOS).
func (a *API) chatPrompt(req *chatRequest) ([]int, error) {
	if len(req.Messages) == 0 || string(req.Messages) == "null" {
		return nil, badParam("messages", "messages: required")
	}
	msgs, err := flattenParts(req.Messages)
	if err != nil {
		return nil, err
	}
	var doc bytes.Buffer
	doc.WriteString(`{"messages":`)
	doc.Write(msgs)
	if len(req.Tools) > 0 && string(req.Tools) != "null" {
		doc.WriteString(`,"tools":`)
		doc.Write(req.Tools)
	}
	doc.WriteByte('}')
	conv, err := chattemplate.ParseConversation(doc.Bytes())
	if err != nil {
		return nil, badParam("messages", "%v", err)
	}
	if len(conv.Messages) == 0 {
		return nil, badParam("messages", "messages: an empty list")
	}
	tpl, err := a.template()
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "chat completions need a chat template: " + err.Error() + " (start the server with --chat-template FILE, or use /v1/completions)", Type: "invalid_request_error", Param: ptr("messages")}
	}
	text, err := tpl.Apply(conv, true, nil)
	if err != nil {
		var raise *chattemplate.RaiseError
		if errors.As(err, &raise) {
			return nil, badParam("messages", "the chat template refused the messages: %s", raise.Message)
		}
		return nil, badParam("messages", "%v", err)
	}
	ids := a.cfg.Family.Tok.Encode(text, false)
	if len(ids) == 0 {
		return nil, badParam("messages", "the chat template rendered an empty prompt")
	}
	return ids, nil
}

func (a *API) chatCompletions(w http.ResponseWriter, r *http.Request) {
	body, err := a.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req chatRequest
	if err := decode(body, &req); err != nil {
		writeError(w, err)
		return
	}
	opts, err := req.options()
	if err != nil {
		writeError(w, err)
		return
	}
	k := -1
	if req.Logprobs {
		k = 0
	}
	if req.TopLogprobs != nil {
		if !req.Logprobs {
			writeError(w, badParam("top_logprobs", "top_logprobs goes with logprobs: true"))
			return
		}
		if *req.TopLogprobs < 0 || *req.TopLogprobs > MaxLogprobs {
			writeError(w, badParam("top_logprobs", "top_logprobs %d: between 0 and %d", *req.TopLogprobs, MaxLogprobs))
			return
		}
		k = *req.TopLogprobs
	}
	e, err := a.models.resolve(req.Model)
	if err != nil {
		writeError(w, err)
		return
	}
	prompt, err := a.chatPrompt(&req)
	if err != nil {
		writeError(w, err)
		return
	}
	ctxLen := e.Meta.Context
	def := max(ctxLen-len(prompt), 0)
	if ctxLen <= 0 {
		def = 256
	}
	limit, name := req.MaxTokens, "max_tokens"
	if req.MaxCompletionTokens != nil {
		limit, name = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if opts.MaxTokens, err = maxTokens(limit, name, def); err != nil {
		writeError(w, err)
		return
	}
	if opts.MaxTokens == 0 {
		writeError(w, badParam(name, "%s: at least 1 for a chat completion (prompt %d tokens, context %d)", name, len(prompt), ctxLen))
		return
	}
	if err := fits(0, len(prompt), opts.MaxTokens, ctxLen, name); err != nil {
		writeError(w, err)
		return
	}
	wk := &work{prompts: [][]int{prompt}, opts: opts, k: k}
	a.run(w, r, "chat completion", func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		c := &chatCall{a: a, req: &req, model: e.ID, id: newID("chatcmpl-"), created: time.Now().Unix(), w: wk}
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
		r := out.res[0]
		fr := finish(r)
		ch := chatChoice{Message: &chatMessage{Role: "assistant", Content: r.Text}, FinishReason: &fr}
		if k >= 0 {
			ch.Logprobs = &chatLogprobs{Content: chatContent(pieces{a.cfg.Family.Tok}, prompt, out.gen[0])}
		}
		writeJSON(w, chatResponse{ID: c.id, Object: "chat.completion", Created: c.created, Model: c.model, Choices: []chatChoice{ch}, Usage: c.usage(out)})
	})
}

type chatCall struct {
	a       *API
	req     *chatRequest
	model   string
	id      string
	created int64
	w       *work
}

func (c *chatCall) usage(out *outcome) *usage {
	n := len(out.res[0].Tokens)
	return &usage{PromptTokens: len(c.w.prompts[0]), CompletionTokens: n, TotalTokens: len(c.w.prompts[0]) + n}
}

// stream sends chat.completion.chunk events: the role first, then the
// content as it comes (with its tokens' logprobs), the finish_reason,
// usage when asked, then [DONE].
func (c *chatCall) stream(ctx context.Context, net *engine.Net, s *sse) {
	p := pieces{c.a.cfg.Family.Tok}
	ids := c.w.prompts[0]
	chunk := func(delta chatMessage, toks []scored, fin *string) chatResponse {
		ch := chatChoice{Delta: &delta, FinishReason: fin}
		if c.w.k >= 0 {
			ch.Logprobs = &chatLogprobs{Content: chatContent(p, ids, toks)}
		}
		return chatResponse{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model, Choices: []chatChoice{ch}}
	}
	s.event(chunk(chatMessage{Role: "assistant"}, nil, nil))
	c.w.onText = func(_ int, text string, toks []scored) {
		s.event(chunk(chatMessage{Content: text}, toks, nil))
		for _, t := range toks {
			ids = append(ids, t.id)
		}
	}
	out, err := c.a.do(ctx, net, c.w)
	if err != nil && out == nil {
		s.fail(err)
		return
	}
	var rest []scored
	if out.sent[0] < len(out.gen[0]) {
		rest = out.gen[0][out.sent[0]:]
	}
	fr := finish(out.res[0])
	s.event(chunk(chatMessage{}, rest, &fr))
	if c.req.StreamOptions != nil && c.req.StreamOptions.IncludeUsage {
		s.event(chatResponse{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model, Choices: []chatChoice{}, Usage: c.usage(out)})
	}
	s.done()
}
