package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSeeds(t *testing.T) {
	for in, want := range map[string][]uint64{"0,1,2": {0, 1, 2}, "3-5": {3, 4, 5}, "7, 0-1": {7, 0, 1},
		"18446744073709551613-18446744073709551615": {1<<64 - 3, 1<<64 - 2, 1<<64 - 1}} { // wrapped and grew until killed (issue 22 item 16)
		got, err := parseSeeds(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"a": `"a" is not a seed`, "1,,2": `"" is not a seed`, "5-3": "not a range", "1,1": "seed 1 twice", "-1": "not a seed", "0-5000": "at most 1000"} {
		if _, err := parseSeeds(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// search --seeds runs one search per seed and compares them; compare
// refuses runs of another family, naming both.
func TestSeedsAndCompare(t *testing.T) {
	dir := t.TempDir()
	args := []string{"search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
		"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "4", "--min-budget", "1", "--max-budget", "3", "--compare=false", "--prefix-cache-mb", "0"}
	code, out, e := runCLI(t, "", append(args, "--seeds", "0,1", "--run", filepath.Join(dir, "runs"))...)
	if code != 0 {
		t.Fatalf("--seeds: exit %d: %s", code, e)
	}
	for _, want := range []string{"space full", "2 run(s)", "best objective", "seed 0", "seed 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("--seeds output lacks %q:\n%s", want, out)
		}
	}
	other := append([]string{"search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-math")}, args[5:]...)
	if code, _, e := runCLI(t, "", append(other, "--run", filepath.Join(dir, "other"))...); code != 0 {
		t.Fatalf("other family: %s", e)
	}
	code, _, e = runCLI(t, "", "compare", filepath.Join(dir, "runs", "seed-0"), filepath.Join(dir, "other"))
	if code == 0 || !strings.Contains(e, "searched another family") {
		t.Errorf("compare across families: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, "", "compare", dir); code == 0 || !strings.Contains(e, "not a search run") {
		t.Errorf("compare of a non-run: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, "", append(args, "--seeds", "1,x", "--run", filepath.Join(dir, "bad"))...); code == 0 || !strings.Contains(e, `"x" is not a seed`) {
		t.Errorf("malformed --seeds: exit %d: %s", code, e)
	}
}

// An unknown reference or aggregate, and paper on perplexity tasks, are
// refused before any work, naming the choices; a report-task list that
// does not parse is refused too.
func TestObjectiveFlagsChecked(t *testing.T) {
	dir := t.TempDir()
	args := []string{"search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
		"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "4", "--run", filepath.Join(dir, "r")}
	for flags, want := range map[string]string{
		"--reference worst":             `reference "worst": one of base, best`,
		"--aggregate median":            `aggregate "median": one of min, mean, geomean, paper`,
		"--aggregate paper":             "aggregate paper averages accuracies: task stories is perplexity",
		"--report-tasks /nonexistent.y": "--report-tasks",
		"--space pruning":               `space "pruning": one of full, selection, removal`,
	} {
		code, _, e := runCLI(t, "", append(args, strings.Fields(flags)...)...)
		if code == 0 || !strings.Contains(e, want) {
			t.Errorf("%s: exit %d, %q; want %q", flags, code, e, want)
		}
	}
}

// search --json prints one object with the rows, the rank correlations,
// the samples and the peak resident memory.
func TestSearchJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, e := runCLI(t, "", "search", "--family", filepath.Join(repoData, "stories260K-base"), "--family", filepath.Join(repoData, "stories260K-code"),
		"--remove", "1", "--tasks", filepath.Join(repoData, "demo-tasks.yaml"), "--trials", "8", "--min-budget", "1", "--max-budget", "3",
		"--prefix-cache-mb", "0", "--run", filepath.Join(dir, "r"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	var sum searchSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if sum.Trials != 8 || len(sum.Rows) < 3 || sum.Rows[0].Kind != "search" || sum.PeakRSSMB <= 0 || sum.SamplesEvaluated <= 0 || len(sum.Tasks) != 4 || len(sum.Correlations) == 0 {
		t.Errorf("summary %+v", sum)
	}
}
