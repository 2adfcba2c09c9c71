// Package task evaluates models and plans on lm-eval-style tasks:
// perplexity on text, multiple-choice log-likelihood (llm-foundry JSONL,
// WinoGrande-style schemas and a generic format), continuation
// log-likelihood (LAMBADA, GSM8K answers) and KL divergence from a
// reference model on calibration text. Results use lm-eval's layout.
package task

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// MCItem is one multiple-choice question: the continuations are scored
// after the contexts. Either one context and several continuations (the
// usual case) or several contexts and one continuation (schemas such as
// WinoGrande, where the choice changes the context).
type MCItem struct {
	Line          int
	Contexts      []string
	Continuations []string
	Gold          int
	// NormLen is the length in characters of each choice's text, for acc_norm.
	NormLen []int
}

// Choices is the number of answers.
func (it *MCItem) Choices() int { return max(len(it.Contexts), len(it.Continuations)) }

// LLItem is a context and the continuation whose likelihood is measured.
type LLItem struct {
	Line         int
	Context      string
	Continuation string
}

// Delimiter separates a context from its continuation (lm-eval's
// target_delimiter).
const Delimiter = " "

func scanLines(raw []byte, path string, fn func(line int, obj map[string]json.RawMessage) error) error {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	line, n := 0, 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		if err := fn(line, obj); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %v", path, line+1, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: no items", path)
	}
	return nil
}

func field[T any](obj map[string]json.RawMessage, name string) (T, bool, error) {
	var v T
	raw, ok := obj[name]
	if !ok {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, true, fmt.Errorf("field %q has the wrong type: %v", name, err)
	}
	return v, true, nil
}

// ParseMultipleChoice reads multiple-choice JSONL in any of the formats:
//
//	{"query": "...", "choices": ["...", ...], "gold": 0}            llm-foundry
//	{"context": "...", "choices": ["...", ...], "gold": 0}          generic
//	{"context_options": ["...", ...], "continuation": "...", "gold": 0}  schema
func ParseMultipleChoice(raw []byte, path string) ([]MCItem, error) {
	var items []MCItem
	err := scanLines(raw, path, func(line int, obj map[string]json.RawMessage) error {
		it := MCItem{Line: line}
		gold, ok, err := field[int](obj, "gold")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("field \"gold\" is missing")
		}
		if opts, ok, err := field[[]string](obj, "context_options"); err != nil {
			return err
		} else if ok {
			cont, ok, err := field[string](obj, "continuation")
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("field \"continuation\" is missing (schema items have context_options and a continuation)")
			}
			if len(opts) < 2 {
				return fmt.Errorf("field \"context_options\" needs at least 2 options, has %d", len(opts))
			}
			it.Contexts = opts
			it.Continuations = []string{Delimiter + cont}
			for _, o := range opts {
				if o == "" {
					return fmt.Errorf("field \"context_options\" has an empty option")
				}
				it.NormLen = append(it.NormLen, len([]rune(cont)))
			}
		} else {
			ctx, ok, err := field[string](obj, "query")
			if err != nil {
				return err
			}
			if !ok {
				if ctx, ok, err = field[string](obj, "context"); err != nil {
					return err
				}
			}
			if !ok {
				return fmt.Errorf("needs \"query\" (or \"context\") and \"choices\", or \"context_options\" and \"continuation\"")
			}
			choices, ok, err := field[[]string](obj, "choices")
			if err != nil {
				return err
			}
			if !ok || len(choices) < 2 {
				return fmt.Errorf("field \"choices\" needs at least 2 choices, has %d", len(choices))
			}
			it.Contexts = []string{ctx}
			for i, c := range choices {
				if strings.TrimSpace(c) == "" {
					return fmt.Errorf("field \"choices\"[%d] is empty", i)
				}
				it.Continuations = append(it.Continuations, Delimiter+c)
				it.NormLen = append(it.NormLen, len([]rune(c)))
			}
		}
		if gold < 0 || gold >= it.Choices() {
			return fmt.Errorf("field \"gold\" = %d is out of range [0, %d)", gold, it.Choices())
		}
		it.Gold = gold
		items = append(items, it)
		return nil
	})
	return items, err
}

// ParseLogLikelihood reads {"context": "...", "continuation": "..."} JSONL.
func ParseLogLikelihood(raw []byte, path string) ([]LLItem, error) {
	var items []LLItem
	err := scanLines(raw, path, func(line int, obj map[string]json.RawMessage) error {
		ctx, ok, err := field[string](obj, "context")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("field \"context\" is missing")
		}
		cont, ok, err := field[string](obj, "continuation")
		if err != nil {
			return err
		}
		if !ok || cont == "" {
			return fmt.Errorf("field \"continuation\" is missing or empty")
		}
		items = append(items, LLItem{Line: line, Context: ctx, Continuation: Delimiter + strings.TrimLeft(cont, " ")})
		return nil
	})
	return items, err
}

// Sniff tells a task file's type from its first item: multiple_choice,
// loglikelihood, generate_until ({"target"} or {"targets"}) or perplexity
// ({"text"}).
func Sniff(raw []byte) string {
	line := raw
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		line = raw[:i]
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(line), &obj) != nil {
		return "perplexity"
	}
	switch {
	case obj["choices"] != nil || obj["context_options"] != nil:
		return "multiple_choice"
	case obj["continuation"] != nil:
		return "loglikelihood"
	case obj["target"] != nil || obj["targets"] != nil:
		return "generate_until"
	}
	return "perplexity"
}
