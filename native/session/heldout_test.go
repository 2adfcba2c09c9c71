package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/task"
)

// The overlap warning names what a report task shares with the text the
// search reads at its budget — and only that: documents past the budget's
// windows are held out.
func TestOverlapNamesSharedDocuments(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, docs ...string) string {
		var b strings.Builder
		for _, d := range docs {
			b.WriteString(`{"text": "` + d + `"}` + "\n")
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(b.String()), 0o644)
		return p
	}
	searchFile := write("search.jsonl", "a b c d", "e f g h", "i j k l", "m n o p")
	words := func(s string) int { return len(strings.Fields(s)) }
	// 2 windows of 3 tokens need 7 tokens: the first two documents.
	search := []task.Spec{{Name: "s", Path: searchFile, Windows: true, Seq: 3, Limit: 2}}
	report := []task.Spec{
		{Name: "clean", Path: write("clean.jsonl", "i j k l", "m n o p")},
		{Name: "leaky", Path: write("leaky.jsonl", "x y", "e f g h")},
		{Name: "same", Path: searchFile},
	}
	got := strings.Join(overlap(search, report, words), "\n")
	for _, want := range []string{"report task leaky shares 1 of its 2 documents with search task s", "leaky.jsonl line 2 is s's document 2", "report task same reads " + searchFile + ", the file of search task s"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "clean") {
		t.Errorf("documents the search never reads were reported:\n%s", got)
	}
}
