package corpus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadFormats(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "a.txt")
	os.WriteFile(txt, []byte("plain text\nover lines"), 0o644)
	docs, err := Read(txt)
	if err != nil || len(docs) != 1 || docs[0].Text != "plain text\nover lines" {
		t.Errorf("text: %v %v", docs, err)
	}
	jl := filepath.Join(dir, "b.jsonl")
	os.WriteFile(jl, []byte("{\"text\": \"one\"}\n\n{\"text\": \"two\", \"meta\": 1}\n"), 0o644)
	docs, err = Read(jl)
	if err != nil || len(docs) != 2 || docs[1].Text != "two" || docs[1].Line != 3 {
		t.Errorf("jsonl: %+v %v", docs, err)
	}
	for in, want := range map[string]string{
		"{\"text\": 1}\n":          "b.jsonl:1: field \"text\" must be a string",
		"\n{\"x\": \"y\"}\n":       "b.jsonl:2: field \"text\" is missing",
		"{\"text\": \"a\"}\n[1]\n": "b.jsonl:2: not a JSON object",
		"\n\n":                     "b.jsonl: no documents",
	} {
		os.WriteFile(jl, []byte(in), 0o644)
		if _, err := Read(jl); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestWindows(t *testing.T) {
	got, _ := Windows([][]int{{1, 5, 6}, {1, 7, 8, 9}, {1}}, 3)
	want := [][]int{{1, 5, 6}, {1, 7, 8}, {9, 1}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("window %d = %v, want %v", i, got[i], want[i])
		}
	}
	if w, _ := Windows([][]int{{1, 2, 3, 4}}, 3); len(w) != 1 { // a 1-token tail predicts nothing
		t.Errorf("tail kept: %v", w)
	}
	for _, size := range []int{1, 0, -1, -128} {
		if w, err := Windows([][]int{{1, 2, 3}}, size); err == nil || w != nil || !strings.Contains(err.Error(), "a window needs at least 2 tokens") {
			t.Errorf("size %d: %v %v", size, w, err)
		}
	}
}

func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte("{\"text\": \"a\"}\n{\"text\": \"b\\u00e9\"}\n"))
	f.Add([]byte("\n\n{\"text\": \"\"}"))
	f.Add([]byte("{\"text\": [1]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := ParseJSONL(b, "fuzz")
		if err == nil && len(docs) == 0 {
			t.Fatal("no error and no documents")
		}
	})
}
