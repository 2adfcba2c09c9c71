package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gptailor/gptailor/native/chattemplate"
)

// Generator continues prompts: what generate_until tasks run on. The
// engine implements it; tasks may call it from several goroutines at once
// (as they call a Net) for small models.
type Generator interface {
	// GenerateUntil continues each prompt greedily and returns the text before the first stop string, at most maxTokens tokens.
	GenerateUntil(ctx context.Context, prompts []GenPrompt, until []string, maxTokens int) ([]string, error)
}

// GenPrompt is one prompt: Text, or (chat tasks) the Messages the model's
// chat template renders, with a generation prompt.
type GenPrompt struct {
	Text     string
	Messages chattemplate.Conversation // set when chat: true
}

// GenSpec is a generate_until task's settings (lm-eval's
// generation_kwargs, few-shot, filter and exact_match options).
type GenSpec struct {
	Until     []string `json:"until,omitempty" yaml:"until"`           // stop strings (default: the few-shot delimiter, "\n\n")
	MaxTokens int      `json:"max_tokens,omitempty" yaml:"max_tokens"` // default 256 (lm-eval's max_gen_toks)
	Chat      bool     `json:"chat,omitempty" yaml:"chat"`             // render samples with the model's chat template
	// Fewshot examples, the first of FewshotPath's samples (same format),
	// go before each prompt: prompt, TargetDelimiter, first target, joined
	// by FewshotDelimiter (chat: a user and an assistant turn each).
	Fewshot          int     `json:"fewshot,omitempty" yaml:"fewshot"`
	FewshotPath      string  `json:"fewshot_path,omitempty" yaml:"fewshot_path"`
	TargetDelimiter  *string `json:"target_delimiter,omitempty" yaml:"target_delimiter"`   // default " "
	FewshotDelimiter *string `json:"fewshot_delimiter,omitempty" yaml:"fewshot_delimiter"` // default "\n\n"
	// Filter is applied to the generated text before matching (lm-eval's
	// filter_list entry: regex, take_first, lowercase, uppercase, strip).
	Filter     []FilterStep `json:"filter,omitempty" yaml:"filter"`
	ExactMatch MatchOptions `json:"exact_match" yaml:"exact_match"`
}

// FilterStep is one step of a filter pipeline, named as in lm-eval.
type FilterStep struct {
	Function     string  `json:"function" yaml:"function"`
	RegexPattern string  `json:"regex_pattern,omitempty" yaml:"regex_pattern"` // regex (default lm-eval's "#### (\-?[0-9\.\,]+)")
	GroupSelect  int     `json:"group_select,omitempty" yaml:"group_select"`   // regex: which match (negative from the end)
	Fallback     *string `json:"fallback,omitempty" yaml:"fallback"`           // regex: when nothing matches (default "[invalid]")
}

// MatchOptions are exact_match's options (Hugging Face evaluate's, as
// lm-eval passes them).
type MatchOptions struct {
	IgnoreCase        bool     `json:"ignore_case,omitempty" yaml:"ignore_case"`
	IgnorePunctuation bool     `json:"ignore_punctuation,omitempty" yaml:"ignore_punctuation"`
	IgnoreNumbers     bool     `json:"ignore_numbers,omitempty" yaml:"ignore_numbers"`
	RegexesToIgnore   []string `json:"regexes_to_ignore,omitempty" yaml:"regexes_to_ignore"`
}

// GenItem is one generate_until sample.
type GenItem struct {
	Line     int
	Prompt   string                     // the prompt text (not chat)
	Messages *chattemplate.Conversation // chat: the conversation
	Targets  []string
}

const (
	defaultMaxTokens = 256
	genBatch         = 8
)

func (g *GenSpec) targetDelimiter() string {
	if g.TargetDelimiter != nil {
		return *g.TargetDelimiter
	}
	return " "
}

func (g *GenSpec) fewshotDelimiter() string {
	if g.FewshotDelimiter != nil {
		return *g.FewshotDelimiter
	}
	return "\n\n"
}

func (g *GenSpec) until() []string {
	if g.Until != nil {
		return g.Until
	}
	return []string{g.fewshotDelimiter()}
}

func (g *GenSpec) maxTokens() int {
	if g.MaxTokens > 0 {
		return g.MaxTokens
	}
	return defaultMaxTokens
}

// checkGenerate validates a spec's generate settings (p names the spec in
// errors, dir is the task list's directory for relative paths).
func (s *Spec) checkGenerate(p, dir string) error {
	if s.Type != "generate_until" {
		if s.Generate != nil {
			return fmt.Errorf("%s.generate: only generate_until tasks take generation settings (type is %s)", p, s.Type)
		}
		return nil
	}
	if s.Generate == nil {
		s.Generate = &GenSpec{}
	}
	g := s.Generate
	p += ".generate"
	if g.MaxTokens < 0 {
		return fmt.Errorf("%s.max_tokens %d must be >= 1 (0: the default %d)", p, g.MaxTokens, defaultMaxTokens)
	}
	for i, u := range g.Until {
		if u == "" {
			return fmt.Errorf("%s.until[%d] is empty", p, i)
		}
	}
	if g.Fewshot < 0 {
		return fmt.Errorf("%s.fewshot %d must be >= 0", p, g.Fewshot)
	}
	if g.Fewshot > 0 && g.FewshotPath == "" {
		return fmt.Errorf("%s.fewshot_path: %d few-shot examples need a file to take them from", p, g.Fewshot)
	}
	if g.FewshotPath != "" && !filepath.IsAbs(g.FewshotPath) {
		if _, err := os.Stat(g.FewshotPath); err != nil {
			g.FewshotPath = filepath.Join(dir, g.FewshotPath)
		}
	}
	if _, err := compileFilter(g.Filter, p+".filter"); err != nil {
		return err
	}
	if _, err := compileMatch(g.ExactMatch, p+".exact_match"); err != nil {
		return err
	}
	return nil
}

// ParseGenerate reads generate_until JSONL: each line
//
//	{"prompt": "...", "target": "..."}  or  "targets": ["...", ...]
//	{"messages": [{"role": ..., "content": ...}, ...], "targets": [...]}   (chat tasks)
//
// A prompt in a chat task is one user message.
func ParseGenerate(raw []byte, path string, chat bool) ([]GenItem, error) {
	var items []GenItem
	err := scanLines(raw, path, func(line int, obj map[string]json.RawMessage) error {
		it := GenItem{Line: line}
		prompt, hasPrompt, err := field[string](obj, "prompt")
		if err != nil {
			return err
		}
		msgs, hasMsgs := obj["messages"]
		switch {
		case hasPrompt && hasMsgs:
			return errors.New(`has both "prompt" and "messages"`)
		case hasMsgs:
			if !chat {
				return errors.New(`field "messages" needs a chat task (generate.chat: true)`)
			}
			conv, err := chattemplate.ParseConversation(msgs)
			if err != nil {
				return fmt.Errorf(`field "messages": %w`, err)
			}
			if len(conv.Messages) == 0 {
				return errors.New(`field "messages" is empty`)
			}
			it.Messages = &conv
		case hasPrompt:
			if prompt == "" {
				return errors.New(`field "prompt" is empty`)
			}
			if chat {
				conv := chattemplate.UserPrompt("", prompt)
				it.Messages = &conv
			} else {
				it.Prompt = prompt
			}
		default:
			return errors.New(`needs "prompt" (or "messages" in a chat task) and "target" or "targets"`)
		}
		target, hasTarget, err := field[string](obj, "target")
		if err != nil {
			return err
		}
		targets, hasTargets, err := field[[]string](obj, "targets")
		if err != nil {
			return err
		}
		switch {
		case hasTarget && hasTargets:
			return errors.New(`has both "target" and "targets"`)
		case hasTarget:
			targets = []string{target}
		case !hasTargets:
			return errors.New(`field "target" (or "targets") is missing`)
		}
		if len(targets) == 0 {
			return errors.New(`field "targets" is empty`)
		}
		for i, t := range targets {
			if t == "" {
				return fmt.Errorf(`field "targets"[%d] is empty`, i)
			}
		}
		it.Targets = targets
		items = append(items, it)
		return nil
	})
	return items, err
}

// prompts builds each item's prompt with the few-shot examples before it.
func (g *GenSpec) prompts(items []GenItem, shots []GenItem) []GenPrompt {
	out := make([]GenPrompt, len(items))
	var ctx strings.Builder
	var turns []chattemplate.Message
	for _, sh := range shots {
		if g.Chat {
			var user string
			if sh.Messages != nil && len(sh.Messages.Messages) > 0 {
				last := sh.Messages.Messages[len(sh.Messages.Messages)-1]
				if last.Content != nil {
					user = *last.Content
				}
			} else {
				user = sh.Prompt
			}
			turns = append(turns, chattemplate.Text("user", user), chattemplate.Text("assistant", sh.Targets[0]))
			continue
		}
		ctx.WriteString(sh.Prompt + g.targetDelimiter() + sh.Targets[0] + g.fewshotDelimiter())
	}
	for i, it := range items {
		if !g.Chat {
			out[i] = GenPrompt{Text: ctx.String() + it.Prompt}
			continue
		}
		conv := *it.Messages
		if len(turns) > 0 {
			msgs := conv.Messages
			at := 0
			if msgs[0].Role == "system" {
				at = 1
			}
			conv.Messages = append(append(append([]chattemplate.Message(nil), msgs[:at]...), turns...), msgs[at:]...)
		}
		out[i] = GenPrompt{Messages: conv}
	}
	return out
}

// genBatches is forBatches for a model that may have no Net (a generator
// alone): then one batch after another.
func genBatches(m *Model, n int, fn func(lo, hi int) error) error {
	if m.Net != nil {
		return forBatches(m, n, genBatch, fn)
	}
	for lo := 0; lo < n; lo += genBatch {
		if m.Ctx != nil && m.Ctx.Err() != nil {
			return m.Ctx.Err()
		}
		if err := fn(lo, min(lo+genBatch, n)); err != nil {
			return err
		}
	}
	return nil
}

func runGenerateUntil(m *Model, s *Spec) (*Result, error) {
	if m.Gen == nil {
		return nil, errors.New("generate_until tasks need a model that generates (no generator was given)")
	}
	g := s.Generate
	if g == nil {
		g = &GenSpec{}
	}
	filter, err := compileFilter(g.Filter, "generate.filter")
	if err != nil {
		return nil, err
	}
	match, err := compileMatch(g.ExactMatch, "generate.exact_match")
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, err
	}
	items, err := ParseGenerate(raw, s.Path, g.Chat)
	if err != nil {
		return nil, err
	}
	var shots []GenItem
	if g.Fewshot > 0 {
		raw, err := os.ReadFile(g.FewshotPath)
		if err != nil {
			return nil, fmt.Errorf("generate.fewshot_path: %w", err)
		}
		all, err := ParseGenerate(raw, g.FewshotPath, g.Chat)
		if err != nil {
			return nil, err
		}
		if len(all) < g.Fewshot {
			return nil, fmt.Errorf("generate.fewshot %d: %s has only %d examples", g.Fewshot, g.FewshotPath, len(all))
		}
		shots = all[:g.Fewshot]
	}
	idx := s.selectIdx(len(items))
	samples := make([]Sample, len(idx))
	ctx := m.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err = genBatches(m, len(idx), func(lo, hi int) error {
		batch := make([]GenItem, 0, hi-lo)
		for _, k := range idx[lo:hi] {
			batch = append(batch, items[k])
		}
		outs, err := m.Gen.GenerateUntil(ctx, g.prompts(batch, shots), g.until(), g.maxTokens())
		if err != nil {
			return err
		}
		if len(outs) != len(batch) {
			return fmt.Errorf("the generator returned %d texts for %d prompts", len(outs), len(batch))
		}
		for j, it := range batch {
			answer := filter(outs[j])
			ok := match.any(answer, it.Targets)
			samples[lo+j] = Sample{Index: it.Line, Correct: &ok, Output: outs[j], Answer: answer}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	met, err := aggregateFor(s, "generate_until", samples)
	if err != nil {
		return nil, err
	}
	return &Result{Metrics: met, Samples: samples, NOriginal: len(items), NEffective: len(idx)}, nil
}
