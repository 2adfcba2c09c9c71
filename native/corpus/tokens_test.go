package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bytesEncoder is a tokenizer of one token per byte (BOS = -1) that
// counts the bytes it was given.
func bytesEncoder(n *int) Encoder {
	return func(text string, bos bool) []int {
		*n += len(text)
		var out []int
		if bos {
			out = append(out, -1)
		}
		for i := 0; i < len(text); i++ {
			out = append(out, int(text[i]))
		}
		return out
	}
}

// A 4 MB plain text file is one document: for 1,000 tokens only its
// first piece is tokenized (BOS once), and without a bound every piece
// continues the one stream, which equals the whole file's tokens.
func TestTokenStreamsPlainText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	text := strings.Repeat("Once upon a time there was a cat.\n", 4<<20/34)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	encoded := 0
	streams, docs, err := TokenStreams(path, bytesEncoder(&encoded), 1, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if docs != 1 || len(streams) != 1 || encoded > TextChunk || len(streams[0]) < 1000 {
		t.Fatalf("%d docs, %d streams, %d bytes tokenized (at most %d), %d tokens", docs, len(streams), encoded, TextChunk, len(streams[0]))
	}
	encoded = 0
	streams, docs, err = TokenStreams(path, bytesEncoder(&encoded), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	whole := bytesEncoder(new(int))(text, true)
	if docs != 1 || len(streams) != 1 || len(streams[0]) != len(whole) || encoded != len(text) {
		t.Fatalf("whole file: %d docs, %d streams, %d tokens, want %d", docs, len(streams), len(streams[0]), len(whole))
	}
	for i := range whole {
		if streams[0][i] != whole[i] {
			t.Fatalf("token %d: %d, want %d", i, streams[0][i], whole[i])
		}
	}
}

// JSONL: --limit documents and no further line is read (a broken one
// after them is never seen); a one-line document is cut to need ×
// maxBytesPerToken bytes before it is tokenized.
func TestTokenStreamsJSONL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.jsonl")
	os.WriteFile(path, []byte(`{"text":"ab"}`+"\n"+`{"text":"cd"}`+"\n{broken\n"), 0o644)
	n := 0
	streams, docs, err := TokenStreams(path, bytesEncoder(&n), 2, 0, 0)
	if err != nil || docs != 2 || len(streams) != 2 || len(streams[1]) != 3 {
		t.Fatalf("%v: %d docs, streams %v", err, docs, streams)
	}
	if _, _, err := TokenStreams(path, bytesEncoder(&n), 0, 0, 0); err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("reading on: %v", err)
	}
	long := filepath.Join(dir, "long.jsonl")
	os.WriteFile(long, []byte(`{"text":"`+strings.Repeat("x", 1<<20)+`"}`+"\n"), 0o644)
	n = 0
	if _, _, err := TokenStreams(long, bytesEncoder(&n), 0, 100, 4); err != nil || n != 400 {
		t.Errorf("one long line for 100 tokens: %v, %d bytes tokenized, want 400", err, n)
	}
}
