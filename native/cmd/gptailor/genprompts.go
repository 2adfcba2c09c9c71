package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/gptailor/gptailor/native/chattemplate"
)

// genPrompt is one prompt of generate: text, or a conversation for the
// chat template.
type genPrompt struct {
	Text string
	Conv *chattemplate.Conversation
}

// readPrompts reads a --prompts file: one JSON object a line,
// {"prompt": TEXT} or {"messages": [...]}; blank lines are skipped. Errors
// name the file and line.
func readPrompts(path string) ([]genPrompt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parsePrompts(f, path)
}

func parsePrompts(r io.Reader, path string) ([]genPrompt, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []genPrompt
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("%s line %d: not UTF-8 text", path, line)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("%s line %d: not a JSON object: %v", path, line, err)
		}
		p, err := promptOf(obj, raw)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", path, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no prompts", path)
	}
	return out, nil
}

// promptOf reads a line: {"prompt": TEXT}, or {"messages": [...]} with any
// other variables of the conversation (tools, documents, ...).
func promptOf(obj map[string]json.RawMessage, raw []byte) (genPrompt, error) {
	pr, hasPrompt := obj["prompt"]
	_, hasMessages := obj["messages"]
	if hasPrompt == hasMessages {
		return genPrompt{}, errors.New(`want one of "prompt" (a string) or "messages" (a list of {"role", "content"})`)
	}
	if hasPrompt {
		var s string
		if err := json.Unmarshal(pr, &s); err != nil {
			return genPrompt{}, errors.New(`field "prompt" must be a string`)
		}
		if s == "" {
			return genPrompt{}, errors.New(`field "prompt" is empty`)
		}
		return genPrompt{Text: s}, nil
	}
	conv, err := chattemplate.ParseConversation(raw)
	if err != nil {
		return genPrompt{}, err
	}
	if len(conv.Messages) == 0 {
		return genPrompt{}, errors.New(`field "messages" is empty`)
	}
	return genPrompt{Conv: &conv}, nil
}
