// Package corpus reads evaluation text: plain text files (one document) or
// JSONL files with one {"text": ...} object per line, and cuts tokenized
// documents into the non-overlapping windows the engine scores.
package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Document is one text with where it came from.
type Document struct {
	Text string
	Line int // 1-based line in a JSONL file; 0 for a plain text file
}

// MaxLine bounds one JSONL line.
const MaxLine = 64 << 20

// Read loads a text or JSONL file. A file is JSONL when its name ends in
// .jsonl or its first non-blank byte is '{'.
func Read(path string) ([]Document, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(raw, " \t\r\n\ufeff")
	if strings.HasSuffix(path, ".jsonl") || (len(trimmed) > 0 && trimmed[0] == '{') {
		return ParseJSONL(raw, path)
	}
	return []Document{{Text: string(raw)}}, nil
}

// ParseJSONL reads one {"text": "..."} object per line; blank lines are
// skipped. Errors name the file and line.
func ParseJSONL(raw []byte, path string) ([]Document, error) {
	var docs []Document
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<20), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		t, ok := rec["text"]
		if !ok {
			return nil, fmt.Errorf("%s:%d: field \"text\" is missing", path, line)
		}
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("%s:%d: field \"text\" must be a string", path, line)
		}
		docs = append(docs, Document{Text: s, Line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", path, line+1, err)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no documents", path)
	}
	return docs, nil
}

// Windows concatenates the token streams of documents (each already holds
// its BOS if the tokenizer adds one) and cuts them into consecutive
// non-overlapping windows of size tokens. A last window shorter than two
// tokens predicts nothing and is dropped.
// A size under two tokens is refused (it would predict nothing, or never
// advance).
func Windows(streams [][]int, size int) ([][]int, error) {
	if size < 2 {
		return nil, fmt.Errorf("window length %d: a window needs at least 2 tokens", size)
	}
	var all []int
	for _, s := range streams {
		all = append(all, s...)
	}
	var out [][]int
	for lo := 0; lo < len(all); lo += size {
		hi := min(lo+size, len(all))
		if hi-lo >= 2 {
			out = append(out, all[lo:hi])
		}
	}
	return out, nil
}
