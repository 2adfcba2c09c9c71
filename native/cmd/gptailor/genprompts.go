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
)

// genPrompt is one prompt of generate: text, or chat messages (a JSON
// array, kept as it is for the chat template).
type genPrompt struct {
	Text     string
	Messages json.RawMessage
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
		p, err := promptOf(obj)
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

func promptOf(obj map[string]json.RawMessage) (genPrompt, error) {
	pr, hasPrompt := obj["prompt"]
	ms, hasMessages := obj["messages"]
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
	if err := checkMessages(ms); err != nil {
		return genPrompt{}, err
	}
	return genPrompt{Messages: ms}, nil
}

// checkMessages refuses messages that are not a non-empty list of objects
// with a string role and a string (or, for tool calls, null) content.
func checkMessages(raw json.RawMessage) error {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return errors.New(`field "messages" must be a list of objects with string "role" and "content"`)
	}
	if len(list) == 0 {
		return errors.New(`field "messages" is empty`)
	}
	for i, m := range list {
		var role string
		if err := json.Unmarshal(m["role"], &role); err != nil || role == "" {
			return fmt.Errorf(`messages[%d]: "role" must be a non-empty string`, i)
		}
		c, ok := m["content"]
		var s string
		if !ok || (json.Unmarshal(c, &s) != nil && string(c) != "null" && c[0] != '[') {
			return fmt.Errorf(`messages[%d]: "content" must be a string`, i)
		}
	}
	return nil
}
