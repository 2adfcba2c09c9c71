package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/tokenizer"
)

// MaxLogprobs bounds the alternatives per position a request may ask for
// (completions' logprobs, chat's top_logprobs): 20, as OpenAI's chat API
// (its legacy completions allowed 5).
const MaxLogprobs = 20

// alt is a token and its log-probability.
type alt struct {
	id int
	lp float64
}

// scored is one token of a sequence with its log-probability under the
// model given the tokens before it and the k most likely tokens there.
// none marks a sequence's first token, which nothing predicts.
type scored struct {
	alt
	top  []alt
	none bool
}

// statRow scores token against a row of logits: log p(token) as eval
// computes it (the logit minus the row's log-sum-exp, in float64) and the
// k most likely tokens, most likely first (ties: lower id first).
func statRow(logits []float32, token, k int) scored {
	m := math.Inf(-1)
	for _, l := range logits {
		m = max(m, float64(l))
	}
	var s float64
	for _, l := range logits {
		s += math.Exp(float64(l) - m)
	}
	lse := m + math.Log(s)
	out := scored{alt: alt{token, finiteLP(float64(logits[token]) - lse)}}
	if k <= 0 {
		return out
	}
	top := make([]alt, 0, k+1)
	for id, l := range logits {
		lp := finiteLP(float64(l) - lse)
		if len(top) == k && lp <= top[k-1].lp {
			continue
		}
		j := len(top)
		for j > 0 && top[j-1].lp < lp {
			j--
		}
		top = append(top, alt{})
		copy(top[j+1:], top[j:])
		top[j] = alt{id, lp}
		if len(top) > k {
			top = top[:k]
		}
	}
	out.top = top
	return out
}

// scorePrompts scores every token of each prompt after its first (eval's
// numbers: the same forward pass over the whole sequence) with k
// alternatives per position.
func scorePrompts(net *engine.Net, prompts [][]int, k int) ([][]scored, error) {
	var seqs []engine.Seq
	var rows []engine.Row
	var where [][2]int
	out := make([][]scored, len(prompts))
	for s, p := range prompts {
		out[s] = make([]scored, len(p))
		out[s][0] = scored{alt: alt{id: p[0]}, none: true}
		seqs = append(seqs, engine.Seq{Tokens: p})
		for t := 1; t < len(p); t++ {
			rows = append(rows, engine.Row{Seq: s, Row: t - 1})
			where = append(where, [2]int{s, t})
		}
	}
	if len(rows) == 0 {
		return out, nil
	}
	err := net.Rows(seqs, rows, func(i int, logits []float32) {
		s, t := where[i][0], where[i][1]
		out[s][t] = statRow(logits, prompts[s][t], k)
	})
	return out, err
}

// pieces turns token ids into their texts as they read in the sequence:
// the decoding of a few tokens before and the token, minus that of the
// tokens before (a SentencePiece token's leading space survives; the
// pieces add up to the decoded text). alternative texts use the same
// context.
type pieces struct {
	tok *tokenizer.Tokenizer
}

const pieceContext = 8

func (p pieces) text(ctx []int, id int) string {
	ctx = ctx[max(0, len(ctx)-pieceContext):]
	before, err1 := p.tok.Decode(ctx)
	whole, err2 := p.tok.Decode(append(append([]int{}, ctx...), id))
	if err1 == nil && err2 == nil && strings.HasPrefix(whole, before) {
		return whole[len(before):]
	}
	s, _ := p.tok.Decode([]int{id})
	return s
}

// topMap is one position's alternatives as a JSON object, most likely
// first (OpenAI's top_logprobs entry); nil is null. Two tokens with the
// same text keep the likelier.
type topMap []kv

type kv struct {
	k string
	v float64
}

func (m topMap) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[string]bool{}
	for _, e := range m {
		if seen[e.k] {
			continue
		}
		seen[e.k] = true
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, _ := json.Marshal(e.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// completionLogprobs is a completion choice's logprobs object.
type completionLogprobs struct {
	Tokens        []string   `json:"tokens"`
	TokenLogprobs []*float64 `json:"token_logprobs"`
	TopLogprobs   []topMap   `json:"top_logprobs"`
	TextOffset    []int      `json:"text_offset"`
}

// add appends tokens (ctx: the ids before the first) whose text begins
// at offset characters into the choice's text; it returns the offset
// after them.
func (c *completionLogprobs) add(p pieces, ctx []int, toks []scored, offset int) int {
	ids := append([]int{}, ctx...)
	for _, t := range toks {
		s := p.text(ids, t.id)
		c.Tokens = append(c.Tokens, s)
		c.TextOffset = append(c.TextOffset, offset)
		offset += utf8.RuneCountInString(s)
		if t.none {
			c.TokenLogprobs = append(c.TokenLogprobs, nil)
			c.TopLogprobs = append(c.TopLogprobs, nil)
		} else {
			v := t.lp
			c.TokenLogprobs = append(c.TokenLogprobs, &v)
			m := topMap{}
			for _, a := range t.top {
				m = append(m, kv{p.text(ids, a.id), a.lp})
			}
			c.TopLogprobs = append(c.TopLogprobs, m)
		}
		ids = append(ids, t.id)
	}
	return offset
}

// chatTokenLogprob is one token of a chat choice's logprobs.content.
type chatTokenLogprob struct {
	Token       string        `json:"token"`
	Logprob     float64       `json:"logprob"`
	Bytes       []int         `json:"bytes"`
	TopLogprobs []chatTopItem `json:"top_logprobs"`
}

type chatTopItem struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

func byteList(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// chatContent is logprobs.content for tokens after ctx.
func chatContent(p pieces, ctx []int, toks []scored) []chatTokenLogprob {
	ids := append([]int{}, ctx...)
	out := []chatTokenLogprob{}
	for _, t := range toks {
		s := p.text(ids, t.id)
		e := chatTokenLogprob{Token: s, Logprob: t.lp, Bytes: byteList(s), TopLogprobs: []chatTopItem{}}
		for _, a := range t.top {
			as := p.text(ids, a.id)
			e.TopLogprobs = append(e.TopLogprobs, chatTopItem{as, a.lp, byteList(as)})
		}
		out = append(out, e)
		ids = append(ids, t.id)
	}
	return out
}
