package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/session"
)

// A run started with relative paths (family, tasks and run directory, all
// through a symlink) resumes from another directory, by its absolute path
// and by a symlinked one: search.json keeps canonical paths. A search.json
// written before (relative paths, as older versions stored them) is still
// read, its paths found from the run directory's ancestors.
func TestResumeFromAnotherDirectory(t *testing.T) {
	data, err := filepath.Abs(repoData)
	if err != nil {
		t.Fatal(err)
	}
	realData, _ := filepath.EvalSymlinks(data)
	proj := t.TempDir()
	if err := os.Symlink(data, filepath.Join(proj, "td")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(proj)
	args := []string{"search", "--family", "td/stories260K-base", "--family", "td/stories260K-code", "--remove", "1", "--tasks", "td/demo-tasks.yaml",
		"--min-budget", "1", "--max-budget", "1", "--compare=false", "--prefix-cache-mb", "0", "--run", "runs/r", "--trials", "2"}
	if code, _, e := runCLI(t, "", args...); code != 0 {
		t.Fatalf("start: exit %d: %s", code, e)
	}
	run := filepath.Join(proj, "runs", "r")
	spec, err := session.ReadSpec(filepath.Join(run, "search.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(realData, "stories260K-base"); spec.Family[0].Dir != want || spec.Tasks != filepath.Join(realData, "demo-tasks.yaml") {
		t.Errorf("search.json keeps %s and %s, want the canonical %s", spec.Family[0].Dir, spec.Tasks, want)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	if code, _, e := runCLI(t, "", "search", "--resume", "--run", run, "--trials", "3"); code != 0 {
		t.Fatalf("resume by absolute path from elsewhere: exit %d: %s", code, e)
	}
	if err := os.Symlink(filepath.Join(proj, "runs"), filepath.Join(elsewhere, "link")); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runCLI(t, "", "search", "--resume", "--run", "link/r", "--trials", "4"); code != 0 {
		t.Fatalf("resume by a relative symlinked path: exit %d: %s", code, e)
	}
	if n := len(journalKeys(t, run)); n != 4 {
		t.Errorf("%d trials journaled, want 4", n)
	}
	// An old search.json: relative paths, from the directory the run was
	// started in (proj), read from elsewhere.
	spec.Family[0].Dir, spec.Family[1].Dir, spec.Tasks = "td/stories260K-base", "td/stories260K-code", "td/demo-tasks.yaml"
	if err := session.WriteSpec(filepath.Join(run, "search.json"), spec); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runCLI(t, "", "search", "--resume", "--run", "link/r", "--trials", "5"); code != 0 {
		t.Fatalf("resume of an old relative search.json: exit %d: %s", code, e)
	}
	if n := len(journalKeys(t, run)); n != 5 {
		t.Errorf("%d trials journaled, want 5", n)
	}
}
