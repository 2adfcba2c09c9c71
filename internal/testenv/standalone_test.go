package testenv

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// upward finds a path that climbs ".." components and then names shared:
// "../../shared" or filepath.Join("..", "..", "shared"). Climbing more
// levels than the file's package lies below the root leaves the repository
// (the team folder sits beside it); fewer is the repository's own shared/.
var upward = regexp.MustCompile(`((?:\.\./)+)shared\b|((?:"\.\.",\s*)+)"shared"`)

// outside matches the other ways to name the team folder: a climb from the
// repository root, the machine's absolute path, and the helpers that used
// to lead there.
var outside = regexp.MustCompile(`Repo\(\),\s*"\.\."|/work/share[d]\b|\btestenv\.(Shared|Missing)\b`)

// scriptExt are the files under a testdata/ directory that a test may run
// or read as instructions (fixture scripts, task lists).
var scriptExt = map[string]bool{".go": true, ".sh": true, ".py": true, ".js": true, ".mjs": true, ".cjs": true,
	".yaml": true, ".yml": true}

// checked says whether a repository file is test code: a _test.go file, a
// test helper under internal/, or a script or task list under testdata/.
func checked(rel string) bool {
	rel = filepath.ToSlash(rel)
	if strings.HasSuffix(rel, "_test.go") || (strings.HasPrefix(rel, "internal/") && strings.HasSuffix(rel, ".go")) {
		return true
	}
	return (strings.HasPrefix(rel, "testdata/") || strings.Contains(rel, "/testdata/")) && scriptExt[filepath.Ext(rel)]
}

// depth is how many directories the package of the file at rel lies below
// the root: the directory tests run in (a testdata/ file belongs to the
// package that holds that testdata/).
func depth(rel string) int {
	n := 0
	for _, c := range strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/") {
		if c == "testdata" {
			break
		}
		if c != "." && c != "" {
			n++
		}
	}
	return n
}

// offending returns "line N: text" for each line of src (the file at rel)
// naming the team folder.
func offending(rel, src string) []string {
	var bad []string
	for i, line := range strings.Split(src, "\n") {
		hit := outside.MatchString(line)
		for _, m := range upward.FindAllString(line, -1) {
			if strings.Count(m, "..") > depth(rel) {
				hit = true
			}
		}
		if hit {
			bad = append(bad, fmt.Sprintf("line %d: %s", i+1, strings.TrimSpace(line)))
		}
	}
	return bad
}

// No test, test helper or testdata script reads the team folder: a fresh
// clone anywhere must run every test.
func TestNoTestReadsOutsideTheRepository(t *testing.T) {
	root := Repo()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin", "runs", "builds":
				return filepath.SkipDir
			}
			return nil
		}
		// This file's own samples name the team folder on purpose.
		if !checked(rel) || filepath.ToSlash(rel) == "internal/testenv/standalone_test.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, b := range offending(rel, string(src)) {
			t.Errorf("%s %s: tests must read testdata/ in the repository, not the team folder", rel, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("only %d test files found under %s: the walk is not seeing the repository", files, root)
	}
}

// The check itself: what it flags and what it lets through.
func TestOffendingPatterns(t *testing.T) {
	type c struct{ rel, line string }
	for _, bad := range []c{
		{"native/engine/golden_test.go", `dir := filepath.Join("..", "..", "..", "shared", "golden")`},
		{"native/cmd/gptailor/main_test.go", `sharedDir = filepath.Join("..", "..",  "..", "..", "shared")`},
		{"shared/plan/plan_test.go", `os.ReadFile(filepath.Join("..", "..", "..", "shared", "golden", "plans.json"))`},
		{"testdata/tasks.yaml", `path: ../shared/data/tasks/arc_easy.jsonl`},
		{"native/x/testdata/run.sh", `cat ../../../shared/golden/nll.json`},
		{"native/x/x_test.go", `filepath.Join(testenv.Repo(), "..", "shared")`},
		{"native/x/x_test.go", `open("/work/` + `shared/models/x")`},
		{"native/x/x_test.go", `testenv.` + `Shared()`},
		{"native/x/x_test.go", `testenv.` + `Missing(t, err)`},
	} {
		got := offending(bad.rel, "ok\n"+bad.line)
		if len(got) != 1 || !strings.HasPrefix(got[0], "line 2: ") {
			t.Errorf("%s: not flagged on line 2: %s (%v)", bad.rel, bad.line, got)
		}
	}
	for _, good := range []c{
		{"native/x/x_test.go", `"github.com/gptailor/gptailor/shared/plan"`},
		{"native/x/x_test.go", `filepath.Join(testenv.Repo(), "shared", "plan")`},
		{"native/x/x_test.go", `filepath.Join("..", "..", "shared", "plan")`},
		{"wasm/x_test.go", `"../shared/editor"`},
		{"native/x/x_test.go", `exec.Command("go", "build", "./shared/...")`},
		{"native/x/x_test.go", `filepath.Join("..", "..", "testdata", "golden", "plans.json")`},
		{"native/x/x_test.go", `sharedDir := t.TempDir()`},
	} {
		if got := offending(good.rel, good.line); len(got) != 0 {
			t.Errorf("%s: flagged: %s", good.rel, good.line)
		}
	}
	for rel, want := range map[string]bool{
		"native/engine/golden_test.go": true,
		"internal/demo/demo.go":        true,
		"testdata/fixtures/make.py":    true,
		"native/x/testdata/run.sh":     true,
		"testdata/demo-tasks.yaml":     true,
		"native/engine/engine.go":      false,
		"testdata/data/code.jsonl":     false,
		"README.md":                    false,
	} {
		if checked(rel) != want {
			t.Errorf("checked(%s) = %v", rel, !want)
		}
	}
}
