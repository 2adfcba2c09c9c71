package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/task"
)

// Issue 22 item 7: a run is resumed on its own tasks, not the caller's; a
// task list stored as a relative path is refused (it was read from
// whatever directory the resume ran in). Item 17: compare counts a run
// named twice once.
func TestRunTasksAreTheRunsOwn(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "own.jsonl")
	os.WriteFile(own, []byte(`{"text":"a b c"}`+"\n"), 0o644)
	current := []task.Spec{{Name: "served"}}
	got, err := RunTasks(RunSpec{Tasks: own}, filepath.Join(dir, "other.yaml"), current)
	if err != nil || len(got) != 1 || got[0].Name != "own" {
		t.Fatalf("the run's tasks: %+v %v", got, err)
	}
	if got, _ := RunTasks(RunSpec{Tasks: own}, own, current); got[0].Name != "served" {
		t.Errorf("the same file is not reused: %+v", got)
	}
	want := `the run stored its task list as the relative path "t.yaml": it would be read from this process's directory, not the run's; edit search.json to give the absolute path`
	if _, err := RunTasks(RunSpec{Tasks: "t.yaml"}, "", nil); err == nil || err.Error() != want {
		t.Errorf("relative: %v", err)
	}
	os.Symlink(dir, filepath.Join(t.TempDir(), "link"))
	if u := UniqueDirs([]string{dir, dir, dir + "/", filepath.Join(dir, ".")}); len(u) != 1 {
		t.Errorf("UniqueDirs: %v", u)
	}
}
