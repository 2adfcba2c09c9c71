package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// ErrStop, returned by a Stream callback, ends the stream without error.
var ErrStop = errors.New("stop")

// TextChunk is the size of the pieces a plain text file is streamed in
// (cut after a newline or space where one is near, never inside a UTF-8
// character).
// 64 KiB: a byte-level tokenizer takes about a second on it on a busy
// core, so `eval --windows 4` on a 20 MB file tokenizes 64 KiB, not 1 MiB.
const TextChunk = 64 << 10

// Stream calls fn with the file's documents in order, reading no more of
// the file than the documents fn takes: a JSONL file line by line (each
// line bounded by MaxLine), a plain text file in TextChunk pieces (numbered
// as lines 0). Errors name the file and line, like Read.
func Stream(path string, fn func(Document) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(512)
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	jsonl := strings.HasSuffix(path, ".jsonl") || (len(trimmed) > 0 && trimmed[0] == '{')
	call := func(d Document) (bool, error) {
		if err := fn(d); err != nil {
			if errors.Is(err, ErrStop) {
				return true, nil
			}
			return true, err
		}
		return false, nil
	}
	if !jsonl {
		buf := make([]byte, TextChunk)
		var carry []byte
		for {
			n, rerr := io.ReadFull(br, buf[len(carry):])
			copy(buf, carry)
			chunk := buf[:len(carry)+n]
			last := rerr != nil
			cut := len(chunk)
			if !last {
				cut = cutPoint(chunk)
			}
			if cut > 0 {
				if stop, err := call(Document{Text: string(chunk[:cut])}); stop {
					return err
				}
			}
			carry = append([]byte(nil), chunk[cut:]...)
			if last {
				if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
					return nil
				}
				return rerr
			}
		}
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	line, docs := 0, 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			// The messages Read gives (ParseJSONL), for the same line.
			var obj map[string]json.RawMessage
			if json.Unmarshal(b, &obj) == nil {
				return fmt.Errorf("%s:%d: field \"text\" must be a string", path, line)
			}
			return fmt.Errorf("%s:%d: not a JSON object with a string field \"text\": %v", path, line, err)
		}
		if rec.Text == nil {
			return fmt.Errorf("%s:%d: field \"text\" is missing", path, line)
		}
		docs++
		if stop, err := call(Document{Text: *rec.Text, Line: line}); stop {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %v", path, line+1, err)
	}
	if docs == 0 {
		return fmt.Errorf("%s: no documents", path)
	}
	return nil
}

// cutPoint is where to end a text chunk: after the last newline in its
// last quarter, else the last space there, else the last whole UTF-8
// character.
func cutPoint(b []byte) int {
	lo := len(b) * 3 / 4
	if i := bytes.LastIndexByte(b[lo:], '\n'); i >= 0 {
		return lo + i + 1
	}
	if i := bytes.LastIndexByte(b[lo:], ' '); i >= 0 {
		return lo + i + 1
	}
	start := len(b) - 1
	for start > 0 && len(b)-start < utf8.UTFMax && !utf8.RuneStart(b[start]) {
		start--
	}
	if start >= 0 && !utf8.FullRune(b[start:]) {
		return start // the last character continues in the next chunk
	}
	return len(b)
}
