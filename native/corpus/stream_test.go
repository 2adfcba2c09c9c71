package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 22 item 12: Stream reads only the documents taken. A plain text
// file comes in pieces that concatenate to the file (never cut inside a
// UTF-8 character); a JSONL file line by line, so a broken line after the
// ones taken is never read.
func TestStreamReadsOnlyWhatIsTaken(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("héllo wörld ünïcode ", 150000) // 3.3 MB: four pieces
	p := filepath.Join(dir, "a.txt")
	os.WriteFile(p, []byte(text), 0o644)
	var got strings.Builder
	pieces := 0
	if err := Stream(p, func(d Document) error { pieces++; got.WriteString(d.Text); return nil }); err != nil {
		t.Fatal(err)
	}
	if got.String() != text || pieces < 3 {
		t.Fatalf("%d pieces, round trip equal: %v", pieces, got.String() == text)
	}
	first := 0
	Stream(p, func(d Document) error { first = len(d.Text); return ErrStop })
	if first > TextChunk || first < TextChunk*3/4 {
		t.Errorf("first piece %d bytes", first)
	}
	j := filepath.Join(dir, "c.jsonl")
	os.WriteFile(j, []byte(`{"text":"one"}`+"\n"+`{"text":"two"}`+"\n"+`not json`+"\n"), 0o644)
	var docs []string
	err := Stream(j, func(d Document) error {
		docs = append(docs, d.Text)
		if len(docs) == 2 {
			return ErrStop
		}
		return nil
	})
	if err != nil || strings.Join(docs, ",") != "one,two" {
		t.Errorf("stopped stream: %v %v", docs, err)
	}
	err = Stream(j, func(Document) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), j+":3: not a JSON object") {
		t.Errorf("whole stream: %v", err)
	}
	boom := errors.New("boom")
	if err := Stream(j, func(Document) error { return boom }); err != boom {
		t.Errorf("callback error: %v", err)
	}
}
