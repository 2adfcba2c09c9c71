package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/shared/plan"
)

func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gptailor compare RUN_DIR... (runs of one family and task list, e.g. search --seeds or --space ablations)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if u := session.UniqueDirs(fs.Args()); len(u) < fs.NArg() {
		fmt.Fprintf(stderr, "compare: %d directories name %d runs: each is counted once\n", fs.NArg(), len(u))
	}
	groups, err := session.Compare(fs.Args())
	if err != nil {
		return fail(stderr, "compare", err)
	}
	printGroups(stdout, groups)
	return 0
}

// printGroups prints, per group of runs that differ only in their seed,
// the winners' objective and per-task retention as mean ± standard error.
func printGroups(w io.Writer, groups []session.Group) {
	for _, g := range groups {
		fmt.Fprintf(w, "%s — %d run(s)\n", g.Label, len(g.Runs))
		fmt.Fprintf(w, "  best objective  %s ± %s (s.e.)\n", plan.Percent(g.Mean), plan.Percent(g.SE))
		tasks := g.Runs[0].Best.Retention
		for i := range tasks {
			name := fmt.Sprintf("task %d", i+1)
			if i < len(g.TaskLabels) && len(g.TaskLabels) == len(tasks) {
				name = g.TaskLabels[i]
			}
			fmt.Fprintf(w, "  %-15s %s ± %s\n", name, plan.Percent(g.TaskMeans[i]), plan.Percent(g.TaskSE[i]))
		}
		for _, r := range g.Runs {
			fmt.Fprintf(w, "    seed %-4d %s  %s (trial %d of %d)\n", r.Spec.Settings.Seed, r.Dir, plan.Percent(r.Best.Objective), r.Best.Index, r.Trials)
		}
	}
}

// parseSeeds reads --seeds "0,1,2" (or a range "0-4").
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds %q: %q is not a seed (a number ≥ 0)", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a || b-a > 1000 {
				return nil, fmt.Errorf("--seeds %q: %q is not a range lo-hi of at most 1000 seeds", s, part)
			}
		}
		for k := uint64(0); k <= b-a; k++ { // by count: a range ending at 2⁶⁴−1 would wrap
			x := a + k
			if seen[x] {
				return nil, fmt.Errorf("--seeds %q: seed %d twice", s, x)
			}
			seen[x] = true
			out = append(out, x)
		}
	}
	return out, nil
}

// runSeeds runs the search once per seed, in RUN/seed-N, then compares.
func runSeeds(args []string, seedsFlag, runDir string, stdout, stderr io.Writer) int {
	seeds, err := parseSeeds(seedsFlag)
	if err != nil {
		return fail(stderr, "search", err)
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if name == "seeds" || name == "seed" || name == "run" {
			if !strings.Contains(a, "=") {
				i++ // its value
			}
			continue
		}
		rest = append(rest, a)
	}
	var dirs []string
	for _, s := range seeds {
		dir := filepath.Join(runDir, fmt.Sprintf("seed-%d", s))
		fmt.Fprintf(stderr, "search: seed %d in %s\n", s, dir)
		if code := runSearch(append(append([]string(nil), rest...), "--seed", strconv.FormatUint(s, 10), "--run", dir), io.Discard, stderr); code != 0 {
			return code
		}
		dirs = append(dirs, dir)
	}
	groups, err := session.Compare(dirs)
	if err != nil {
		return fail(stderr, "search", err)
	}
	printGroups(stdout, groups)
	return 0
}
