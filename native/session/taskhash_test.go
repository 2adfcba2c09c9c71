package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/internal/demo"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/shared/protocol"
)

// A run stores the hashes of its task list and data files when it starts;
// a resume after one of them changed is refused naming it; a run that
// stored none (an older gptailor's) resumes with a note saying so.
func TestResumeRefusesChangedTasks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "stories.jsonl")
	raw, err := os.ReadFile(filepath.Join(repoData, "data", "stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(data, raw, 0o644)
	list := filepath.Join(dir, "t.yaml")
	os.WriteFile(list, []byte("tasks:\n  - name: stories\n    type: perplexity\n    path: stories.jsonl\n    windows: true\n    seq: 128\n"), 0o644)
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	members := demo.Members("base", "code")
	trials := 4
	res, err := Resolve(run, protocol.RunRequest{Trials: &trials}, members, list, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Spec.TaskHashes) != 2 || res.Spec.TaskHashes[list] == "" || res.Spec.TaskHashes[data] == "" {
		t.Fatalf("stored hashes %v: want the list and its data file", res.Spec.TaskHashes)
	}
	journal, specPath := search.RunDir(run)
	if err := WriteSpec(specPath, res.Spec); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(journal, nil, 0o644)
	resume := func() (*Resolved, error) {
		return Resolve(run, protocol.RunRequest{Resume: true}, nil, "", nil)
	}
	if r, err := resume(); err != nil || len(r.Notes) != 0 {
		t.Fatalf("resume with the same tasks: %v, notes %q", err, r.Notes)
	}
	os.WriteFile(data, append(raw, []byte(`{"text":"one more story"}`+"\n")...), 0o644)
	_, err = resume()
	if err == nil || !strings.Contains(err.Error(), data+" changed since the run started") || strings.Contains(err.Error(), list+" changed") {
		t.Fatalf("resume after %s changed: %v", data, err)
	}
	t.Logf("%v", err)
	old := res.Spec
	old.TaskHashes = nil
	if err := WriteSpec(specPath, old); err != nil {
		t.Fatal(err)
	}
	r, err := resume()
	if err != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "the run stored no hashes of its tasks") {
		t.Fatalf("resume of a run without hashes: %v, notes %q", err, r.Notes)
	}
}
