package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/runlock"
)

// Issue 22 item 6: a second search on a run directory (here: --resume
// while this process holds it, as another search would) is refused naming
// the holder's pid, and nothing in the directory is touched.
func TestSecondSearchOnARunRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := runlock.Acquire(dir, "gptailor search --run "+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	code, _, e := runCLI(t, "", "search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
		"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "3", "--min-budget", "1", "--max-budget", "3", "--run", dir, "--resume")
	want := fmt.Sprintf("%s is in use by pid %d (gptailor search --run %s)", dir, os.Getpid(), dir)
	if code != 1 || !strings.Contains(e, want) {
		t.Fatalf("exit %d: %s\nwant %s", code, e, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the refused search wrote into the run: %v", entries)
	}
}
